"""`metrics:` in config.yaml: where Prometheus text is served, if anywhere."""

from __future__ import annotations

import ipaddress
from typing import Annotated, NamedTuple

from pydantic import BeforeValidator

from daemon.settings import StrictModel

LOOPBACK = "127.0.0.1"
_EXPECTED = "expected a port (9464) or host:port (127.0.0.1:9464, [::1]:9464)"


class ListenAddress(NamedTuple):
    """Where the metrics are served: a host (an IP address or a name) and a TCP port."""

    host: str
    port: int

    def __str__(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"

    @property
    def is_loopback(self) -> bool:
        """Reachable from this machine only (a name other than localhost may be anything)."""
        if self.host == "localhost":
            return True
        try:
            return ipaddress.ip_address(self.host).is_loopback
        except ValueError:
            return False


def parse_listen(value: object) -> ListenAddress | None:
    """`listen:` as written: a bare port means 127.0.0.1; nothing (or false) means off."""
    if value is None or value is False or isinstance(value, ListenAddress):
        return value or None
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ValueError(f"{_EXPECTED}, not {value!r}")
    text = str(value).strip()
    host, colon, port = text.rpartition(":")
    if not colon:
        host = LOOPBACK  # a bare port: loopback, so nothing is exposed unless written out
    elif host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    elif ":" in host:
        raise ValueError(f"{_EXPECTED}: an IPv6 address goes in brackets, not {text!r}")
    if not host or not port.isdigit() or not 1 <= int(port) <= 65535:
        raise ValueError(f"{_EXPECTED}, not {text!r}")
    return ListenAddress(host, int(port))


class MetricsSettings(StrictModel):
    # None: off. A port alone is served on 127.0.0.1; any other host only if written out.
    listen: Annotated[ListenAddress | None, BeforeValidator(parse_listen)] = None
