# The load balancer for machines that cannot pull the official nginx image: Debian's nginx on
# the same base as the service image. It reads the same deploy/nginx.conf, mounted as
# /etc/nginx/conf.d/default.conf, so what the tests exercise is the shipped configuration.
#
#   docker build --network=host --build-arg BASE_IMAGE=lrcast-base/python:3.11 \
#       -f deploy/lb.Dockerfile -t lrcast-lb deploy
ARG BASE_IMAGE=python:3.12-slim
FROM ${BASE_IMAGE}
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends nginx \
    && rm -rf /var/lib/apt/lists/* /etc/nginx/sites-enabled/default \
    && ln -sf /dev/stdout /var/log/nginx/access.log \
    && ln -sf /dev/stderr /var/log/nginx/error.log
# nginx finishes the requests in flight on SIGQUIT (graceful), as the official image does.
STOPSIGNAL SIGQUIT
CMD ["nginx", "-g", "daemon off;"]
