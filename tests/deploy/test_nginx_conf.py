"""The shipped nginx configuration against the service's own settings (no nginx needed; the
docker tests run it)."""

from __future__ import annotations

import re
from pathlib import Path

from lrcast_service.http_protocol import KEEP_ALIVE_TIMEOUT

CONF = Path(__file__).resolve().parents[2] / "deploy" / "nginx.conf"


def _upstream() -> str:
    match = re.search(r"upstream lrcast \{(.*?)\}", CONF.read_text(), re.S)
    assert match, "deploy/nginx.conf has no `upstream lrcast` block"
    return match.group(1)


def test_nginx_drops_idle_upstream_connections_before_the_service_does() -> None:
    """nginx reuses idle connections to the replicas (`keepalive`); if it kept one longer than
    the service's keep-alive, a request could be sent just as the replica closes it."""
    upstream = _upstream()
    assert re.search(r"^\s*keepalive \d+;", upstream, re.M)
    seconds = re.search(r"^\s*keepalive_timeout (\d+)s;", upstream, re.M)
    assert seconds, "the upstream's keepalive_timeout must be set (nginx's default is 60 s)"
    assert int(seconds.group(1)) < KEEP_ALIVE_TIMEOUT
