# dropcast in a container: see README, "Run it with Docker".
# Build stage: a virtual environment with dropcast and its dependencies, from pyproject.toml.
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY daemon ./daemon
RUN python -m venv /opt/dropcast \
    && /opt/dropcast/bin/pip install --no-cache-dir --upgrade pip \
    && /opt/dropcast/bin/pip install --no-cache-dir .

# Run stage: the slim base, the environment, and nothing else.
FROM python:3.11-slim
RUN groupadd --gid 1000 dropcast \
    && useradd --uid 1000 --gid 1000 --no-create-home --home-dir /data \
        --shell /usr/sbin/nologin dropcast \
    && mkdir -p /data/inbox /data/archive /data/failed /data/state /data/preview /config \
    && chown -R 1000:1000 /data
COPY --from=build /opt/dropcast /opt/dropcast
COPY docker/entrypoint.sh /usr/local/bin/dropcast-entrypoint
COPY docker/config.yaml /config/config.yaml
ENV PATH=/opt/dropcast/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    DROPCAST_CONFIG=/config/config.yaml
VOLUME ["/data/inbox", "/data/archive", "/data/failed", "/data/state", "/data/preview"]
# dropcast stops cleanly on SIGTERM, giving posts in flight shutdown_grace_seconds (30 s):
# give it longer than that (`docker stop -t 45`, or stop_grace_period in compose.yaml).
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=30s --timeout=10s --start-period=30s --retries=3 \
    CMD ["dropcast", "health"]
ENTRYPOINT ["dropcast-entrypoint"]
CMD ["run"]
