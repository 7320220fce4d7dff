"""What a builder receives besides its spec: where it is, the optimizer's LRs, and how to
build a member (composites build theirs through `BuildContext.build`, handed down by
`_registry`, so no schedule family imports the table of types)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from ._base import Schedule
from ._errors import SpecError
from ._types import LRs

Builder = Callable[[dict[str, Any], "BuildContext"], Schedule]

#: how deep composites (SequentialLR, ChainedScheduler) may nest: real specs nest 2 or 3
#: levels; the bound keeps building, storing and serializing a spec far from any recursion limit
MAX_DEPTH = 16


@dataclass(frozen=True)
class BuildContext:
    """What a builder knows besides its own spec."""

    #: builds a (member) spec in a context: `_registry.build`
    build: Callable[[Any, BuildContext], Schedule]
    #: field path of this spec, for error messages ("" at the top level)
    path: str = ""
    #: the optimizer's LR per group ("lr" of the top-level spec); None where the spec
    #: gave none (allowed only for CyclicLR/OneCycleLR, which set it themselves)
    lrs: LRs | None = None
    #: True for members of SequentialLR / ChainedScheduler
    nested: bool = False
    #: how many composites enclose this spec
    depth: int = 0

    def member(self, spec: Any, path: str, lrs: LRs | None) -> Schedule:
        """Build a composite's member at `path` on `lrs`."""
        if self.depth >= MAX_DEPTH:
            raise SpecError(path, f"composites nest at most {MAX_DEPTH} levels deep")
        return self.build(spec, replace(self, path=path, lrs=lrs, nested=True,
                                        depth=self.depth + 1))
