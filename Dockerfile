# lrcast service image.
#
# Two stages on the same base: the builder makes a venv with the service installed, the final
# stage copies only that venv (no compilers, no pip cache, no sources) and runs as a non-root
# user. The base is a build argument so it can be swapped (a pinned digest, a mirror, or the
# local stand-in `lrcast-base/python:3.11` on machines that reach no registry); the stages use
# only what every python:*-slim image has: `python3 -m venv` and `useradd`.
#
#   docker build -t lrcast .
#   docker run -p 127.0.0.1:8000:8000 -v lrcast-data:/data -e LRCAST_TOKENS=s3cret lrcast
ARG BASE_IMAGE=python:3.12-slim

FROM ${BASE_IMAGE} AS builder
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PYTHONDONTWRITEBYTECODE=1
RUN python3 -m venv /opt/lrcast
WORKDIR /src
# Only what the wheel needs (see .dockerignore); tests, benchmarks and examples stay out.
COPY pyproject.toml README.md ./
COPY client ./client
COPY service ./service
RUN /opt/lrcast/bin/pip install --upgrade pip \
    && /opt/lrcast/bin/pip install '.[service]' \
    && find /opt/lrcast -name '__pycache__' -type d -prune -exec rm -rf {} +

FROM ${BASE_IMAGE}
# A fixed uid/gid so volume ownership is predictable across rebuilds and hosts.
RUN useradd --uid 10001 --user-group --home-dir /data --no-create-home --shell /usr/sbin/nologin lrcast \
    && mkdir -p /data \
    && chown lrcast:lrcast /data
COPY --from=builder /opt/lrcast /opt/lrcast
ENV PATH=/opt/lrcast/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    LRCAST_HOST=0.0.0.0 \
    LRCAST_PORT=8000 \
    LRCAST_DATABASE=sqlite:////data/lrcast.db
# The SQLite default keeps its state here; with PostgreSQL the volume stays empty.
VOLUME ["/data"]
WORKDIR /data
USER 10001:10001
EXPOSE 8000
# No curl in slim images: the venv's Python asks /healthz on the port the service listens on.
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
    CMD ["python3", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('LRCAST_PORT', '8000'), timeout=2)"]
# Listening on 0.0.0.0, `serve` refuses to start without LRCAST_TOKENS (or LRCAST_TOKENS_FILE)
# unless it is told --insecure / LRCAST_INSECURE=1 explicitly.
ENTRYPOINT ["lrcast"]
CMD ["serve"]
