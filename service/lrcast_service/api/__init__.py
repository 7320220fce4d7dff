"""HTTP only: routes per resource (`routes/`), their dependencies (`deps`), every request
and response shape (`models`), the fast path of ``GET .../lr`` (`fast_lr`), the middleware,
and the one table mapping domain errors to HTTP statuses and codes (`errors`)."""
