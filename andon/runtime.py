"""`andon run`: API, engine, collector and outputs in one asyncio process."""

from __future__ import annotations

import logging

import uvicorn

from andon.api.app import create_app
from andon.api.deps import Services
from andon.clock import Clock, SystemClock
from andon.config.schema import Config
from andon.plant import Plant
from andon.storage.store import Store, open_database
from collector.hardware import attach_hardware
from collector.outputs import attach_mqtt_outputs, export_source_rejects
from collector.sources import SourceRunner

log = logging.getLogger(__name__)


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
    # Stack lights and andon buttons follow the live hub (a state listener joins it at start-up).
    hardware = attach_hardware(services) if with_sources else None
    runner = SourceRunner(config, services.plant.sink, services.clock)
    # MQTT outputs (retained state, andon events, status will) join the hub; source rejects go on /metrics.
    publisher = attach_mqtt_outputs(services)
    export_source_rejects(services, runner)
    server = uvicorn.Server(uvicorn.Config(
        app, host=host or config.api.host, port=port or config.api.port, log_level="info",
        lifespan="on", access_log=False,
    ))
    try:
        if with_sources:
            await runner.start()
        if hardware is not None:
            await hardware.start()
        await server.serve()
    finally:
        if hardware is not None:
            await hardware.stop()
        await runner.stop()
        if publisher is not None:
            publisher.close()
        services.plant.close()
        services.store.engine.dispose()
        log.info("stopped; every count is written")
