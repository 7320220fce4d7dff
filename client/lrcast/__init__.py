"""lrcast: learning-rate schedules as a service (the client library).

Importing lrcast imports no framework and none of the service's dependencies; the adapters
(`lrcast.torch`, `lrcast.transformers`, `lrcast.keras`, `lrcast.optax`) are imported only
when asked for.

>>> import lrcast
>>> client = lrcast.Client("http://127.0.0.1:8000")  # or LRCAST_URL / LRCAST_TOKEN
>>> spec = {"type": "StepLR", "lr": 0.1, "step_size": 10}
>>> run = client.run("job-42", schedule=spec)  # doctest: +SKIP
"""

from . import errors, schedules
from ._client import AsyncClient, Client
from ._config import LeasePolicy, Retries, Timeouts
from ._lease import Lease
from ._run import AsyncRun, Run
from ._types import ReportResult
from .errors import LRCastError

__version__ = "0.1.0"


_ADAPTERS = ("torch", "transformers", "keras", "optax")


def __getattr__(name: str) -> object:
    """The framework adapters (`lrcast.torch`, `.transformers`, `.keras`, `.optax`) on first
    use, so `import lrcast` alone imports no framework."""
    if name in _ADAPTERS:
        import importlib

        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module 'lrcast' has no attribute {name!r}")


__all__ = [
    "AsyncClient",
    "AsyncRun",
    "Client",
    "LRCastError",
    "Lease",
    "LeasePolicy",
    "ReportResult",
    "Retries",
    "Run",
    "Timeouts",
    "__version__",
    "errors",
    "schedules",
]
