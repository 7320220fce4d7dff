"""`api/errors.py`: every domain error has its (status, code), and an unexpected exception is
logged with its traceback and answered 500 internal_error (never a 4xx blaming the input)."""

from __future__ import annotations

import logging

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from lrcast_service.api import errors
from lrcast_service.core import errors as domain


def _subclasses(cls: type) -> list[type]:
    return [c for sub in cls.__subclasses__() for c in (sub, *_subclasses(sub))]


def test_every_domain_error_has_a_status_and_a_code() -> None:
    for cls in _subclasses(domain.DomainError):
        assert cls in errors.DOMAIN_ERRORS, cls
    codes = [code for _, code in errors.DOMAIN_ERRORS.values()]
    assert len(codes) == len(set(codes))


def test_a_bug_is_a_logged_500_internal_error(caplog: pytest.LogCaptureFixture) -> None:
    app = FastAPI()
    errors.install(app)

    @app.get("/boom")
    def boom() -> None:
        raise ZeroDivisionError("a bug in a schedule")

    @app.get("/pending")
    def pending() -> None:
        raise domain.RoundPending(10, [3])

    client = TestClient(app, raise_server_exceptions=False)
    with caplog.at_level(logging.ERROR, logger="lrcast.service"):
        r = client.get("/boom")
    assert r.status_code == 500
    assert r.json() == {"detail": "internal error", "code": "internal_error"}
    assert any(rec.exc_info and rec.exc_info[0] is ZeroDivisionError for rec in caplog.records)
    r = client.get("/pending")
    assert r.status_code == 409
    assert r.json() == {"detail": "the plateau round at step 10 waits for ranks [3]",
                        "code": "round_pending", "step": 10, "missing_ranks": [3]}
