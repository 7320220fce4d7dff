"""What the CLI prints: tables (rich), JSON, sparklines, PNG plots (matplotlib, the ``plot``
extra), and the spec files it reads (JSON or YAML).

rich, PyYAML and matplotlib are imported inside the functions that need them, so a command
that prints one number does not pay for them.
"""

from __future__ import annotations

import contextlib
import json
import math
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from ._common import UsageError


@contextlib.contextmanager
def waiting(message: str) -> Iterator[None]:
    """A spinner on stderr while a slow call runs (rich on a terminal; nothing otherwise)."""
    if not sys.stderr.isatty():
        yield
        return
    from rich.console import Console

    with Console(stderr=True).status(message):
        yield


def print_json(data: Any) -> None:
    """Machine-readable output for scripts (``--json``)."""
    json.dump(data, sys.stdout, indent=2, sort_keys=False)
    sys.stdout.write("\n")


def table(title: str | None, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """A table on stdout (rich)."""
    from rich.console import Console
    from rich.table import Table

    cells = [["" if v is None else str(v) for v in row] for row in rows]
    out = Table(title=title, title_justify="left", show_lines=False)
    for name in columns:
        out.add_column(name, overflow="fold")
    for row in cells:
        out.add_row(*row)
    Console(width=_width()).print(out)


def _width() -> int | None:
    """Wide enough for the tables when stdout is not a terminal (pipes, tests)."""
    return None if sys.stdout.isatty() else 160


def facts(title: str, pairs: Sequence[tuple[str, Any]]) -> None:
    """Key: value lines under a title."""
    print(title)
    width = max(len(k) for k, _ in pairs)
    for key, value in pairs:
        print(f"  {key.ljust(width)}  {value}")


def fmt(x: Any) -> str:
    """A learning rate or metric, short."""
    if isinstance(x, float):
        return f"{x:.6g}"
    return "-" if x is None else str(x)


def load_spec(path: str) -> Any:
    """A spec (or any JSON document) from a ``.json``/``.yaml``/``.yml`` file, or ``-`` (stdin,
    JSON). YAML needs PyYAML, imported only here."""
    if path == "-":
        text, name = sys.stdin.read(), "<stdin>"
    else:
        file = Path(path)
        try:
            text = file.read_text()
        except OSError as exc:
            raise UsageError(f"cannot read {path}: {exc.strerror or exc}") from None
        name = path
        if file.suffix.lower() in (".yaml", ".yml"):
            try:
                import yaml
            except ImportError:
                raise UsageError(f"{path} is YAML, which needs PyYAML: pip install pyyaml "
                                 "(or give the spec as JSON)") from None
            try:
                return yaml.safe_load(text)
            except yaml.YAMLError as exc:
                raise UsageError(f"{path} is not valid YAML: {exc}") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise UsageError(f"{name} is not valid JSON: {exc.msg} (line {exc.lineno}, "
                         f"column {exc.colno})") from None


SPARK = "▁▂▃▄▅▆▇█"


def sparkline(values: Sequence[float], width: int = 64, log: bool = False) -> str:
    """`values` resampled to `width` columns (the mean of each bucket) as block characters."""
    if not values:
        return ""
    width = max(1, min(width, len(values)))
    buckets = []
    for i in range(width):
        lo = i * len(values) // width
        hi = max(lo + 1, (i + 1) * len(values) // width)
        chunk = values[lo:hi]
        buckets.append(sum(chunk) / len(chunk))
    if log:
        floor = min((v for v in buckets if v > 0), default=1.0)
        buckets = [math.log10(max(v, floor)) for v in buckets]
    lo, hi = min(buckets), max(buckets)
    if hi - lo <= 1e-12 * max(abs(hi), 1e-300):
        return SPARK[len(SPARK) // 2] * width
    return "".join(SPARK[min(len(SPARK) - 1, int((v - lo) / (hi - lo) * len(SPARK)))]
                   for v in buckets)


def save_png(path: str, steps: Sequence[int], lrs: Sequence[float], title: str,
             log: bool = False) -> None:
    """The LR curve as a PNG with matplotlib (the ``plot`` extra)."""
    try:
        import matplotlib
    except ImportError:
        raise UsageError("--png needs matplotlib: pip install 'lrcast[plot]'") from None
    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 4), dpi=100)
    try:
        ax.plot(steps, lrs, linewidth=1.6)
        ax.set_xlabel("step")
        ax.set_ylabel("learning rate")
        ax.set_title(title)
        if log:
            ax.set_yscale("log")
        ax.grid(alpha=0.3)
        fig.tight_layout()
        fig.savefig(path)
    except OSError as exc:
        raise UsageError(f"cannot write {path}: {exc.strerror or exc}") from None
    finally:
        plt.close(fig)
