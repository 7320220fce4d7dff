"""The idempotency rule (`core/idempotency.py`): the fingerprint, the key's form, replay or
execute, and expiry."""

from __future__ import annotations

import uuid

import pytest

from lrcast_service.core import idempotency
from lrcast_service.core.errors import Invalid
from lrcast_service.core.idempotency import Answer, KeyedRequest, KeyReused

BODY = b'{"from_step":50,"scale":0.5}'
PATH = "/v1/runs/r/amendments"


def request(body: bytes = BODY, method: str = "POST", path: str = PATH,
            key: str = "k1") -> KeyedRequest:
    return KeyedRequest("r", key, method, path, idempotency.fingerprint(method, path, body))


def kept(req: KeyedRequest, created_at: float = 1000.0) -> Answer:
    return Answer(req.fingerprint, 200, b'{"version":2}', created_at)


def test_the_fingerprint_is_the_method_the_path_and_the_body_bytes() -> None:
    base = idempotency.fingerprint("POST", PATH, BODY)
    assert base == idempotency.fingerprint("post", PATH, BODY)  # methods are case-insensitive
    assert len(base) == 64 and int(base, 16) >= 0  # a SHA-256 in hex: fits its column
    others = {idempotency.fingerprint("PUT", PATH, BODY),
              idempotency.fingerprint("POST", "/v1/runs/r/rewind", BODY),
              idempotency.fingerprint("POST", PATH, b'{"from_step":50,"scale":0.25}'),
              idempotency.fingerprint("POST", PATH, BODY + b" "),
              idempotency.fingerprint("POST", PATH + "?wait=1", BODY),
              # the separator keeps the path and the body apart
              idempotency.fingerprint("POST", PATH + "\n{", BODY[1:])}
    assert base not in others and len(others) == 6


@pytest.mark.parametrize("key", [str(uuid.uuid4()), "01J9Z3-retry:1", "a", "k" * 255])
def test_well_formed_keys_are_kept_as_sent(key: str) -> None:
    assert idempotency.check_key(key) == key


@pytest.mark.parametrize("key", ["", "k" * 256, "with space", "tab\t", "caf\u00e9", "\x00"])
def test_malformed_keys_name_the_header(key: str) -> None:
    with pytest.raises(Invalid) as err:
        idempotency.check_key(key)
    assert err.value.fields == {"field": "Idempotency-Key"}


def test_a_new_key_is_executed() -> None:
    assert idempotency.replay(None, request(), now=0.0) is None


def test_the_same_request_replays_the_kept_answer() -> None:
    req = request()
    answer = kept(req)
    assert idempotency.replay(answer, request(), now=1000.0 + 60) is answer


@pytest.mark.parametrize("other", [request(body=b'{"from_step":50,"scale":0.25}'),
                                   request(method="PUT"), request(path="/v1/runs/r/rewind")])
def test_the_same_key_on_another_request_is_refused(other: KeyedRequest) -> None:
    with pytest.raises(KeyReused) as err:
        idempotency.replay(kept(request()), other, now=1000.0)
    assert err.value.fields == {"key": "k1"}
    assert other.method in err.value.detail and other.path in err.value.detail


def test_a_key_expires_after_its_ttl() -> None:
    answer = kept(request(), created_at=1000.0)
    assert idempotency.replay(answer, request(), now=1000.0 + idempotency.TTL - 1) is answer
    assert idempotency.replay(answer, request(), now=1000.0 + idempotency.TTL) is None
    # an expired key is free again, even for another request
    other = request(body=b"{}")
    assert idempotency.replay(answer, other, now=1000.0 + idempotency.TTL) is None
    assert idempotency.TTL == 24 * 3600  # as documented in the README
