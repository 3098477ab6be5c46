"""`andon run`: API, engine, collector and outputs in one asyncio process."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from typing import Any

import uvicorn

from andon.api.app import create_app
from andon.api.deps import Services
from andon.clock import Clock, SystemClock
from andon.config.schema import Config
from andon.plant import Plant
from andon.storage.store import Store, open_database
from collector.sources import SourceRunner

log = logging.getLogger(__name__)


class StateTicker:
    """Recompute every line's state once a second and announce the ones that changed.

    Conditions move with time alone (plan grows, a silent line becomes stopped), so outputs
    cannot wait for counts; one pass serves every listener.
    """

    def __init__(self, services: Services, period: float = 1.0) -> None:
        self.services = services
        self.period = period
        self.listeners: list[Callable[[str, dict[str, Any]], None]] = []
        self._last: dict[str, str] = {}

    def subscribe(self, listener: Callable[[str, dict[str, Any]], None]) -> None:
        """Call ``listener(line_id, state)`` for every changed state."""
        self.listeners.append(listener)

    def check(self, line_ids: list[str] | None = None) -> None:
        """Recompute states now and announce changes."""
        from andon.api.lines import line_state

        for line_id in line_ids or list(self.services.plant.lines):
            state = line_state(self.services, self.services.plant.lines[line_id])
            key = json.dumps({k: v for k, v in state.items() if k != "at"}, sort_keys=True, default=str)
            if self._last.get(line_id) == key:
                continue
            self._last[line_id] = key
            for listener in list(self.listeners):
                try:
                    listener(line_id, state)
                except Exception:
                    log.exception("a state listener failed")

    async def run(self) -> None:
        """Tick until cancelled."""
        while True:
            self.check()
            await asyncio.sleep(self.period)


def build_services(config: Config, clock: Clock | None = None) -> Services:
    """Open the database and build the plant and API services."""
    clock = clock or SystemClock()
    engine = open_database(config.database)
    store = Store(engine)
    plant = Plant(config, store, clock)
    return Services(config=config, plant=plant, store=store, clock=clock)


async def run(config: Config, host: str | None = None, port: int | None = None,
              with_sources: bool = True) -> None:
    """Run everything until interrupted (Ctrl-C or SIGTERM), then stop cleanly."""
    services = build_services(config)
    if config.auth is None:
        log.warning("NO AUTH SECTION: the API is open to anyone who can reach it (demo mode)")
    app = create_app(services)
    ticker = StateTicker(services)
    services.extras["ticker"] = ticker
    runner = SourceRunner(config, services.plant.sink, services.clock)
    server = uvicorn.Server(uvicorn.Config(
        app, host=host or config.api.host, port=port or config.api.port, log_level="info",
        lifespan="off", access_log=False,
    ))
    background: list[asyncio.Task[None]] = [asyncio.create_task(ticker.run(), name="state ticker")]
    try:
        if with_sources:
            await runner.start()
        await server.serve()
    finally:
        await runner.stop()
        for task in background:
            task.cancel()
        await asyncio.gather(*background, return_exceptions=True)
        services.plant.close()
        services.store.engine.dispose()
        log.info("stopped; every count is written")
