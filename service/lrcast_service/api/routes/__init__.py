"""One router per resource, each with its full ``/v1/...`` paths."""
