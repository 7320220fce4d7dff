"""The access log's lines (`access_log.AccessLog`) are the lines uvicorn's formatter and
`serving.JsonFormatter` write for the same request, in both formats, for less."""

from __future__ import annotations

import io
import logging
import logging.config
from collections.abc import Iterator

import pytest

from lrcast_service import access_log
from lrcast_service.serving import log_config

REQUESTS = [
    ("127.0.0.1:5555", "GET", "/v1/runs/r-1/lr?step=12&rank=0", "1.1", 200),
    ("10.0.0.7:80", "PUT", "/v1/runs/r%22q", "1.0", 404),
    ("", "POST", '/v1/x?q="é"\\', "1.1", 418),
    ("[::1]:9", "GET", "/", "1.1", 599),  # no phrase
]
#: times with fractions that round differently to the millisecond and the microsecond
TIMES = [1796130000.0, 1796130000.9995, 1796130000.9999996, 1796130059.123456, 1.5e9]


@pytest.fixture(params=["plain", "json"])
def handler(request: pytest.FixtureRequest) -> Iterator[access_log.AccessLog]:
    logging.config.dictConfig(log_config(request.param))
    logger = logging.getLogger("uvicorn.access")
    found = access_log.direct(logger)
    assert found is not None  # serve's access logger writes its lines directly
    yield found
    logging.config.dictConfig({"version": 1, "disable_existing_loggers": False})


@pytest.mark.parametrize("args", REQUESTS)
@pytest.mark.parametrize("created", TIMES)
def test_a_line_is_the_formatters_line(handler: access_log.AccessLog, args: tuple,
                                       created: float) -> None:
    record = logging.LogRecord("uvicorn.access", logging.INFO, __file__, 1,
                               '%s - "%s %s HTTP/%s" %d', args, None)
    record.created, record.msecs = created, int((created - int(created)) * 1000) + 0.0
    assert handler.formatter is not None
    assert handler.text(created, *args) == handler.formatter.format(record) + "\n"


def test_records_and_lines_are_written_each_at_once(handler: access_log.AccessLog) -> None:
    handler.setStream(io.StringIO())
    logging.getLogger("uvicorn.access").info('%s - "%s %s HTTP/%s" %d', *REQUESTS[0])
    handler.line(*REQUESTS[1])
    lines = handler.stream.getvalue().splitlines()
    assert len(lines) == 2 and "/v1/runs/r-1/lr?step=12&rank=0" in lines[0]
    assert "/v1/runs/r%22q" in lines[1]


def test_a_logger_with_filters_or_other_handlers_is_not_written_directly() -> None:
    logger = logging.getLogger("lrcast-test-access")
    logger.propagate, logger.level = False, logging.INFO
    logger.addHandler(access_log.AccessLog(io.StringIO()))
    assert access_log.direct(logger) is not None
    logger.addFilter(lambda record: True)
    assert access_log.direct(logger) is None
    logger.filters.clear()
    logger.addHandler(logging.StreamHandler(io.StringIO()))
    assert access_log.direct(logger) is None
    logger.handlers.clear()
