"""Rank, world size, URLs and token from the environment torchrun/SLURM/users set."""

import pytest

from lrcast._env import (
    DEFAULT_URL,
    rank_from_env,
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
