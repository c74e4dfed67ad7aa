"""`alerts:` in config.yaml: where to tell the owner, and how often at most."""

from __future__ import annotations

from pydantic import Field

from daemon.settings import StrictModel


class AlertSettings(StrictModel):
    after_failures: int = Field(default=3, ge=1)  # a platform failing this many posts in a row
    quiet_minutes: float = Field(default=60.0, ge=0)  # one message per problem per this long
