"""Counts that devices POST to the API: nothing to poll, only silence to watch."""

from __future__ import annotations

import asyncio
from typing import Literal

from andon.config.bases import SourceConfigBase
from devices.base import CountSource
from devices.catalog import Driver


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


DRIVER = Driver("http", HttpSourceConfig, HttpSource)
