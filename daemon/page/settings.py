"""`page:` in config.yaml: where the owner's status page is written."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from daemon.settings import ConfigPath, StrictModel


class PageSettings(StrictModel):
    enabled: bool = True
    folder: ConfigPath = Path("status")  # the page is <folder>/index.html
    max_posts: int = Field(default=100, ge=1)
