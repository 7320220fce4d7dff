"""Reading spec fields with PyTorch's defaults and validation, naming the field path on error."""

from __future__ import annotations

import difflib
import math
from collections.abc import Iterable
from typing import Any

from ._errors import SpecError

REQUIRED: Any = object()


def join_path(path: str, key: str | int) -> str:
    """``schedulers[1]`` + ``T_max`` -> ``schedulers[1].T_max``."""
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else key


class Fields:
    """Typed access to one spec object; `finish()` rejects keys nobody read."""

    def __init__(self, spec: Any, path: str = "", allowed: Iterable[str] = ("type",)) -> None:
        if not isinstance(spec, dict):
            raise SpecError(path, "must be an object")
        self.spec = spec
        self.path = path
        self._read: set[str] = set(allowed)

    def where(self, key: str | int) -> str:
        return join_path(self.path, key)

    def error(self, key: str, reason: str) -> SpecError:
        return SpecError(self.where(key), reason)

    def missing(self, key: str, reason: str = "is required") -> SpecError:
        """`key` is required but absent; names the spec's key that likely misspells it."""
        typo = closest(key, [k for k in self.spec if k not in self._read and k != key])
        hint = f"; the spec has {typo!r}: did you mean {key!r}?" if typo else ""
        return self.error(key, reason + hint)

    def has(self, key: str) -> bool:
        return key in self.spec

    def raw(self, key: str, default: Any = REQUIRED) -> Any:
        self._read.add(key)
        if key not in self.spec or (self.spec[key] is None and default is not REQUIRED):
            if default is REQUIRED:
                raise self.missing(key)
            return default
        return self.spec[key]

    # scalar readers --------------------------------------------------------------------
    def number(self, key: str, default: Any = REQUIRED, *, low: float | None = None,
               high: float | None = None, low_open: bool = False, high_open: bool = False,
               reason: str | None = None) -> float:
        value = self.raw(key, default)
        return check_number(value, self.where(key), low=low, high=high, low_open=low_open,
                            high_open=high_open, reason=reason)

    def integer(self, key: str, default: Any = REQUIRED, *, low: int | None = None,
                reason: str | None = None) -> int:
        value = self.raw(key, default)
        return check_integer(value, self.where(key), low=low, reason=reason)

    def positive_int(self, key: str, default: Any = REQUIRED) -> int:
        return self.integer(key, default, low=1, reason="must be a positive integer")

    def non_negative_int(self, key: str, default: Any = REQUIRED) -> int:
        return self.integer(key, default, low=0, reason="must be a non-negative integer")

    def boolean(self, key: str, default: Any = REQUIRED) -> bool:
        value = self.raw(key, default)
        if not isinstance(value, bool):
            raise self.error(key, "must be true or false")
        return value

    def choice(self, key: str, options: Iterable[str], default: Any = REQUIRED) -> str:
        value = self.raw(key, default)
        options = tuple(options)
        if value not in options:
            raise self.error(key, "must be one of " + ", ".join(repr(o) for o in options))
        return value

    def int_list(self, key: str, default: Any = REQUIRED, *, low: int | None = None) -> list[int]:
        value = self.raw(key, default)
        if not isinstance(value, list):
            raise self.error(key, "must be a list of integers")
        return [check_integer(v, join_path(self.where(key), i), low=low)
                for i, v in enumerate(value)]

    def number_or_list(self, key: str, num_groups: int, default: Any = REQUIRED, *,
                       low: float | None = None, low_open: bool = False) -> list[float]:
        """A scalar broadcast to every group, or one number per group."""
        value = self.raw(key, default)
        if isinstance(value, list):
            if len(value) != num_groups:
                raise self.error(key, f"expected {num_groups} values (one per parameter group), "
                                      f"got {len(value)}")
            return [check_number(v, join_path(self.where(key), i), low=low, low_open=low_open)
                    for i, v in enumerate(value)]
        return [check_number(value, self.where(key), low=low, low_open=low_open)] * num_groups

    def finish(self) -> None:
        """Reject fields that are not arguments of this schedule type."""
        unknown = sorted(set(self.spec) - self._read)
        if unknown:
            guess = closest(unknown[0], sorted(self._read - set(self.spec)))
            hint = f"; did you mean {guess!r}?" if guess else ""
            raise self.error(unknown[0], f"is not an argument of {self.spec.get('type')}{hint}")


def closest(word: str, candidates: Iterable[str]) -> str | None:
    """The candidate `word` most likely misspells (ignoring case), if any is close enough."""
    by_lower = {c.lower(): c for c in candidates}
    match = difflib.get_close_matches(word.lower(), by_lower, n=1)
    return by_lower[match[0]] if match else None


def check_number(value: Any, where: str, *, low: float | None = None, high: float | None = None,
                 low_open: bool = False, high_open: bool = False,
                 reason: str | None = None) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise SpecError(where, reason or "must be a number")
    value = float(value)
    if not math.isfinite(value):
        raise SpecError(where, reason or "must be a finite number")
    if low is not None and (value < low or (low_open and value == low)):
        raise SpecError(where, reason or f"must be {'>' if low_open else '>='} {low:g}")
    if high is not None and (value > high or (high_open and value == high)):
        raise SpecError(where, reason or f"must be {'<' if high_open else '<='} {high:g}")
    return value


def check_integer(value: Any, where: str, *, low: int | None = None,
                  reason: str | None = None) -> int:
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise SpecError(where, reason or "must be an integer")
    if low is not None and value < low:
        raise SpecError(where, reason or f"must be an integer >= {low}")
    return value
