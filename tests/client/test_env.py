"""Rank, world size, run id, URLs and token from the environment launchers (torchrun, Open
MPI, PMI, SLURM) and users set."""

import pytest

from lrcast._env import (
    DEFAULT_URL,
    rank_from_env,
    run_id_from_env,
    token_from_env,
    urls_from_env,
    world_size_from_env,
)


def test_torchrun_variables_win_over_slurm():
    env = {"RANK": "3", "WORLD_SIZE": "8", "SLURM_PROCID": "1", "SLURM_NTASKS": "2"}
    assert rank_from_env(env) == 3
    assert world_size_from_env(env) == 8


def test_slurm_variables_when_torchrun_absent():
    env = {"SLURM_PROCID": "5", "SLURM_NTASKS": "16", "RANK": ""}
    assert rank_from_env(env) == 5
    assert world_size_from_env(env) == 16


def test_open_mpi_variables():
    env = {"OMPI_COMM_WORLD_RANK": "6", "OMPI_COMM_WORLD_SIZE": "12"}
    assert (rank_from_env(env), world_size_from_env(env)) == (6, 12)


def test_pmi_variables():
    env = {"PMI_RANK": "2", "PMI_SIZE": "3"}
    assert (rank_from_env(env), world_size_from_env(env)) == (2, 3)


@pytest.mark.parametrize("env,expected", [
    # torchrun started by srun (one per node): SLURM counts the agents, torchrun the workers
    ({"RANK": "9", "WORLD_SIZE": "16", "SLURM_PROCID": "1", "SLURM_NTASKS": "2"}, (9, 16)),
    # torchrun started by mpirun: the same
    ({"RANK": "5", "WORLD_SIZE": "8", "OMPI_COMM_WORLD_RANK": "0",
      "OMPI_COMM_WORLD_SIZE": "2"}, (5, 8)),
    # mpirun inside a SLURM allocation: SLURM_* describe the per-node daemons
    ({"OMPI_COMM_WORLD_RANK": "7", "OMPI_COMM_WORLD_SIZE": "8", "SLURM_PROCID": "0",
      "SLURM_NTASKS": "2"}, (7, 8)),
    # MPICH/Intel MPI's hydra inside SLURM (or srun --mpi=pmi2, where both agree)
    ({"PMI_RANK": "3", "PMI_SIZE": "4", "SLURM_PROCID": "1", "SLURM_NTASKS": "2"}, (3, 4)),
], ids=["torchrun-in-srun", "torchrun-in-mpirun", "mpirun-in-slurm", "hydra-in-slurm"])
def test_the_innermost_launcher_wins(env, expected):
    assert (rank_from_env(env), world_size_from_env(env)) == expected


def test_run_id_from_torchelastic():
    assert run_id_from_env({"TORCHELASTIC_RUN_ID": "job-77"}) == "job-77"
    for env in ({}, {"TORCHELASTIC_RUN_ID": ""}, {"TORCHELASTIC_RUN_ID": "none"}):
        # "none" is torchrun's default without --rdzv-id: every job would share it
        with pytest.raises(ValueError, match="no run id: pass one"):
            run_id_from_env(env)


def test_client_run_defaults_the_run_id_from_torchrun(monkeypatch):
    import lrcast

    from .scripted_http import ScriptedServer

    monkeypatch.setenv("TORCHELASTIC_RUN_ID", "elastic-1")
    monkeypatch.setenv("OMPI_COMM_WORLD_RANK", "1")
    monkeypatch.setenv("OMPI_COMM_WORLD_SIZE", "2")
    for name in ("RANK", "WORLD_SIZE"):
        monkeypatch.delenv(name, raising=False)
    spec = {"type": "constant", "lr": 0.1}
    with ScriptedServer([(200, {"run_id": "elastic-1", "world_size": 2})]) as srv:
        with lrcast.Client(srv.url) as client:
            run = client.run(schedule=spec)
            monkeypatch.delenv("TORCHELASTIC_RUN_ID")
            with pytest.raises(ValueError, match="no run id"):
                client.run(schedule=spec)
        (req,) = srv.requests  # the second call sent nothing
    assert (req["method"], req["path"]) == ("PUT", "/v1/runs/elastic-1")
    assert req["json"]["world_size"] == 2
    assert (run.run_id, run.rank) == ("elastic-1", 1)


def test_single_process_defaults():
    assert rank_from_env({}) == 0
    assert world_size_from_env({}) == 1


def test_non_integer_rank_names_the_variable():
    with pytest.raises(ValueError, match="WORLD_SIZE='four'"):
        world_size_from_env({"WORLD_SIZE": "four"})


def test_urls_comma_separated_for_replicas():
    env = {"LRCAST_URL": " http://a:8000, http://b:8000 ,"}
    assert urls_from_env(env) == ["http://a:8000", "http://b:8000"]
    assert urls_from_env({}) == [DEFAULT_URL]


def test_token_empty_means_none():
    assert token_from_env({"LRCAST_TOKEN": ""}) is None
    assert token_from_env({"LRCAST_TOKEN": "s3cret"}) == "s3cret"


def test_client_reads_url_and_token_from_environment(monkeypatch):
    import lrcast

    monkeypatch.setenv("LRCAST_URL", "http://a:1/,http://b:2")
    monkeypatch.setenv("LRCAST_TOKEN", "tok")
    client = lrcast.Client()
    assert client.urls == ("http://a:1", "http://b:2")
    assert client._headers()["Authorization"] == "Bearer tok"
    client.close()
