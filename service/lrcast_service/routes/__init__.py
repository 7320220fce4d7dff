"""One router per resource; `v1` gathers the authenticated ones."""
