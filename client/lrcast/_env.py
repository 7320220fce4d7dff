"""What the launcher and the user's environment say: rank, world size, run id, URLs, token.

Launchers nest (torchrun started by srun, mpirun or hydra inside a SLURM allocation), and the
outer one's variables then describe the outer tasks (one per node), not the workers: so the
innermost launcher wins. torchrun's `RANK`/`WORLD_SIZE` first, then Open MPI's
`OMPI_COMM_WORLD_*`, then PMI's `PMI_*` (MPICH, Intel MPI, `srun --mpi=pmi2`), then SLURM's
`SLURM_PROCID`/`SLURM_NTASKS`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

DEFAULT_URL = "http://127.0.0.1:8000"

RANK_VARIABLES = ("RANK", "OMPI_COMM_WORLD_RANK", "PMI_RANK", "SLURM_PROCID")
WORLD_SIZE_VARIABLES = ("WORLD_SIZE", "OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "SLURM_NTASKS")
#: torchrun's job id; "none" is its default when `--rdzv-id` is not given
RUN_ID_VARIABLE = "TORCHELASTIC_RUN_ID"
#: the job's membership epoch: lrcast's own, then torchrun's count of its workers' restarts
EPOCH_VARIABLES = ("LRCAST_EPOCH", "TORCHELASTIC_RESTART_COUNT")


def _int(env: Mapping[str, str], names: tuple[str, ...]) -> int | None:
    for name in names:
        value = env.get(name, "").strip()
        if value:
            try:
                return int(value)
            except ValueError:
                raise ValueError(f"{name}={value!r} is not an integer") from None
    return None


def rank_from_env(env: Mapping[str, str] | None = None) -> int:
    """This process's rank from the innermost launcher (see above), else 0."""
    value = _int(os.environ if env is None else env, RANK_VARIABLES)
    return 0 if value is None else value


def world_size_from_env(env: Mapping[str, str] | None = None) -> int:
    """The job's world size from the innermost launcher (see above), else 1."""
    value = _int(os.environ if env is None else env, WORLD_SIZE_VARIABLES)
    return 1 if value is None else value


def epoch_from_env(env: Mapping[str, str] | None = None) -> int | None:
    """The job's membership epoch (`LRCAST_EPOCH`, else torchrun's
    `TORCHELASTIC_RESTART_COUNT`), or None when neither is set (no membership handling)."""
    value = _int(os.environ if env is None else env, EPOCH_VARIABLES)
    if value is not None and value < 0:
        raise ValueError(f"the membership epoch must be >= 0, got {value}")
    return value


def run_id_from_env(env: Mapping[str, str] | None = None) -> str:
    """torchrun's `TORCHELASTIC_RUN_ID` (the same on every rank of the job), or a clear
    error when no run id was given and the job was not started by torchrun with one."""
    value = (os.environ if env is None else env).get(RUN_ID_VARIABLE, "").strip()
    if not value or value == "none":
        raise ValueError(
            "no run id: pass one (client.run('my-run', ...)), or launch with torchrun "
            f"--rdzv-id=ID or --standalone, which sets {RUN_ID_VARIABLE}")
    return value


def urls_from_env(env: Mapping[str, str] | None = None) -> list[str]:
    """`LRCAST_URL`, a comma-separated list of base URLs (replicas), else the local default."""
    raw = (os.environ if env is None else env).get("LRCAST_URL", "")
    urls = [u.strip() for u in raw.split(",") if u.strip()]
    return urls or [DEFAULT_URL]


def token_from_env(env: Mapping[str, str] | None = None) -> str | None:
    """`LRCAST_TOKEN`, or None."""
    return (os.environ if env is None else env).get("LRCAST_TOKEN") or None
