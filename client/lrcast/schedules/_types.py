"""The value type every schedule returns: one float per parameter group."""

LRs = tuple[float, ...]

#: the most parameter groups a spec may give (one LR each): far above what models use (a
#: group per layer-wise LR of a 1,000-layer model), and it bounds every response's size
MAX_GROUPS = 1024
