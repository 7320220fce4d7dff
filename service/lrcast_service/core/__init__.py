"""The rules about runs, as pure functions over a `RunRecord`: no HTTP, no SQL, no event loop.

Each rule lives in the module named for it (`rounds`, `frontier`, `amendments`, `rewind`,
`lr_finder`, `preview`); a rule that changes a run returns a `changes.Change` the store
commits, and refuses with a `errors.DomainError` that `api/errors.py` maps to HTTP.
"""
