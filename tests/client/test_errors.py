"""Error responses map to the lrcast.errors hierarchy by code, then by status."""

import pytest

from lrcast import errors


@pytest.mark.parametrize("status,code,cls", [
    (404, "run_not_found", errors.RunNotFound),
    (409, "run_conflict", errors.RunConflict),
    (409, "report_conflict", errors.ReportConflict),
    (409, "round_closed", errors.RoundClosed),
    (409, "not_metric_driven", errors.NotMetricDriven),
    (409, "consumption_conflict", errors.ConsumptionConflict),
    (422, "step_out_of_range", errors.StepOutOfRange),
    (401, None, errors.AuthError),
    (403, None, errors.AuthError),
    (404, None, errors.RunNotFound),
    (409, "something_new", errors.Conflict),
    (503, None, errors.ServiceUnavailable),
])
def test_code_and_status_pick_the_class(status, code, cls):
    exc = errors.from_response(status, {"detail": "why", "code": code})
    assert type(exc) is cls
    assert isinstance(exc, errors.LRCastError)
    assert (exc.status, exc.code, str(exc)) == (status, code, "why")


def test_round_pending_carries_step_and_missing_ranks():
    exc = errors.from_response(409, {"detail": "wait", "code": "round_pending", "step": 40,
                                     "missing_ranks": [1, 3]})
    assert isinstance(exc, errors.RoundPending) and isinstance(exc, errors.Conflict)
    assert (exc.step, exc.missing_ranks) == (40, [1, 3])


def test_amendment_too_early_carries_min_step():
    exc = errors.from_response(409, {"detail": "x", "code": "amendment_too_early",
                                     "min_step": 1200})
    assert isinstance(exc, errors.AmendmentTooEarly) and exc.min_step == 1200


def test_invalid_names_the_field_from_pydantic_detail():
    body = {"code": "invalid", "detail": [{"loc": ["body", "world_size"], "msg": "bad"}]}
    exc = errors.from_response(422, body)
    assert isinstance(exc, errors.InvalidRequest) and exc.field == "world_size"


def test_round_timeout_is_a_round_pending_and_lease_expired_unavailable():
    assert issubclass(errors.RoundTimeout, errors.RoundPending)
    assert issubclass(errors.LeaseExpired, errors.ServiceUnavailable)
