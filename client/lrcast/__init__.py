"""lrcast: learning-rate schedules as a service (the client library).

Importing lrcast imports neither torch nor the service's dependencies; the PyTorch adapter is
`lrcast.torch`, imported only when asked for.

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


def __getattr__(name: str) -> object:
    """`lrcast.torch` on first use, so `import lrcast` alone never imports torch."""
    if name == "torch":
        import importlib

        return importlib.import_module(".torch", __name__)
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
