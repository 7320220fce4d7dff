"""The value type every schedule returns: one float per parameter group."""

LRs = tuple[float, ...]
