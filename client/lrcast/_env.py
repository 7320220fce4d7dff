"""What torchrun, SLURM and the user's environment say: rank, world size, URLs, token."""

from __future__ import annotations

import os
from collections.abc import Mapping

DEFAULT_URL = "http://127.0.0.1:8000"


def _int(env: Mapping[str, str], *names: str) -> int | None:
    for name in names:
        value = env.get(name, "").strip()
        if value:
            try:
                return int(value)
            except ValueError:
                raise ValueError(f"{name}={value!r} is not an integer") from None
    return None


def rank_from_env(env: Mapping[str, str] | None = None) -> int:
    """This process's rank: `RANK` (torchrun), else `SLURM_PROCID`, else 0."""
    value = _int(os.environ if env is None else env, "RANK", "SLURM_PROCID")
    return 0 if value is None else value


def world_size_from_env(env: Mapping[str, str] | None = None) -> int:
    """The job's world size: `WORLD_SIZE` (torchrun), else `SLURM_NTASKS`, else 1."""
    value = _int(os.environ if env is None else env, "WORLD_SIZE", "SLURM_NTASKS")
    return 1 if value is None else value


def urls_from_env(env: Mapping[str, str] | None = None) -> list[str]:
    """`LRCAST_URL`, a comma-separated list of base URLs (replicas), else the local default."""
    raw = (os.environ if env is None else env).get("LRCAST_URL", "")
    urls = [u.strip() for u in raw.split(",") if u.strip()]
    return urls or [DEFAULT_URL]


def token_from_env(env: Mapping[str, str] | None = None) -> str | None:
    """`LRCAST_TOKEN`, or None."""
    return (os.environ if env is None else env).get("LRCAST_TOKEN") or None
