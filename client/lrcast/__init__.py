"""lrcast: learning-rate schedules as a service (the client library).

Importing lrcast imports neither torch nor the service's dependencies.
"""

from . import schedules

__version__ = "0.1.0"

__all__ = ["schedules", "__version__"]
