"""Counts that devices POST to the API: nothing to poll, only silence to watch."""

from __future__ import annotations

import asyncio
from typing import Literal

from devices.base import CountSource, SourceConfigBase
from devices.registry import register_source


class HttpSourceConfig(SourceConfigBase):
    """Counts arriving on ``POST /api/lines/{line}/counts``."""

    type: Literal["http"] = "http"


class HttpSource(CountSource):
    """Wait forever: HTTP counts are delivered by the API, not pulled."""

    async def run(self) -> None:
        """Do nothing until cancelled; silence makes the line stale after stale_after_seconds."""
        await asyncio.Event().wait()

    def describe(self) -> str:
        """Say where the counts come from."""
        return "HTTP POST /api/lines/{line}/counts"


register_source("http", HttpSourceConfig, HttpSource)
