"""`metrics:` in config.yaml: where Prometheus text is served, if anywhere."""

from __future__ import annotations

from daemon.settings import StrictModel


class MetricsSettings(StrictModel):
    listen: str | None = None  # host:port (or a port, on 127.0.0.1); None: off
