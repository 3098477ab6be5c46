"""`andon run`: API, engine, collector and outputs in one asyncio process."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import signal
import sys
from collections.abc import Coroutine, Iterator
from typing import Any

import uvicorn
from sqlalchemy.exc import SQLAlchemyError

from andon.api.app import create_app
from andon.api.listener import http_protocol, raise_open_file_limit, redact_secrets_in_logs
from andon.clock import Clock, SystemClock
from andon.config.schema import Config
from andon.plant import Plant
from andon.services import Services, services_for
from andon.storage import migrate
from andon.storage.store import Store, open_database
from collector.hardware import attach_hardware
from collector.outputs import (
    attach_mqtt_outputs,
    attach_namespace_outputs,
    export_button_rejects,
    export_source_rejects,
)
from collector.sources import SourceRunner
from devices.connections import Connections

log = logging.getLogger(__name__)


class _Server(uvicorn.Server):
    """A uvicorn server that leaves signals to ``run``, so its clean-up always runs.

    uvicorn re-raises SIGINT/SIGTERM after its own shutdown, which would end the process before
    the sources, lights and the event writer are stopped.
    """

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        """Install nothing: ``run`` owns the signal handlers."""
        yield


def build_services(
    config: Config, clock: Clock | None = None, *, webhook_options: dict[str, Any] | None = None,
    migrate_in_child: bool = False,
) -> Services:
    """Open the database and build every service of a server process (``migrate_in_child``: see open_database)."""
    clock = clock or SystemClock()
    store = Store(open_database(config.database, in_child=migrate_in_child))
    return services_for(Plant(config, store, clock), webhook_options=webhook_options)


STOP_STEP_SECONDS = 5.0  # each shutdown step (lights, sources) gets this long
WRITER_STOP_SECONDS = 15.0  # the writer gets this long to commit what is queued (systemd waits 30 s)


async def _bounded(step: str, coro: Coroutine[Any, Any, None]) -> None:
    """Await one shutdown step for at most STOP_STEP_SECONDS; log, never raise."""
    try:
        await asyncio.wait_for(coro, STOP_STEP_SECONDS)
    except TimeoutError:
        log.error("stopping %s took longer than %.0f s; going on without it", step, STOP_STEP_SECONDS)
    except Exception:
        log.exception("stopping %s failed", step)


async def run(config: Config, host: str | None = None, port: int | None = None,
              with_sources: bool = True) -> int:
    """Run everything until interrupted (Ctrl-C or SIGTERM), then stop cleanly; return the exit status.

    The status is 1 when counts were left unwritten (storage could not write): their senders keep
    them (MQTT messages stay unacknowledged, HTTP posts unanswered), so nothing is lost.
    """
    try:
        services = build_services(config, migrate_in_child=True)  # the server never imports Alembic
    except (SQLAlchemyError, OSError) as exc:
        reason = str(getattr(exc, "orig", None) or exc).splitlines()[0]
        log.error("cannot open the database %s: %s", config.database, reason)
        return 2
    except migrate.MigrationError as exc:
        log.error("cannot bring the database %s to revision %s: %s", config.database, migrate.HEAD, exc)
        return 2
    # A line with nothing stored yet (first start, a new line) is judged from its first count or product, not
    # from the start of the shift it was first watched in (docs/products.md).
    try:
        services.products.mark_unwatched()
    except SQLAlchemyError as exc:
        log.error("cannot mark new lines as waiting for their first count: %s", str(getattr(exc, "orig", exc))[:200])
    if config.auth is None:
        log.warning("NO AUTH SECTION: the API is open to anyone who can reach it (demo mode)")
    app = create_app(services)
    # Stack lights and andon buttons follow the live hub (a state listener joins it at start-up).
    # One link per physical connection, shared by sources, lights and buttons (a Modbus light and a
    # Modbus counter on one PLC share its connection).
    connections = Connections(services.clock, mqtt=config.mqtt)
    hardware = attach_hardware(services, connections) if with_sources else None
    runner = SourceRunner(config, services.plant.sink, services.clock, connections=connections)
    # MQTT outputs (retained state, andon events, status will) join the hub; source rejects go on /metrics.
    publisher = attach_mqtt_outputs(services)
    namespaces = attach_namespace_outputs(services)  # Sparkplug B edge node, UNS topics (outputs:)
    export_source_rejects(services, runner)
    if hardware is not None:
        export_button_rejects(services, hardware)
    # Every connection holds a file descriptor: lift the soft limit (often 1024) so thousands of
    # clients, idle or hostile, cannot stop the server accepting; deadlines close the idle ones.
    raise_open_file_limit()
    server = _Server(uvicorn.Config(
        app, host=host or config.api.host, port=port or config.api.port, log_level="info",
        lifespan="on", access_log=False, timeout_keep_alive=config.api.idle_timeout_seconds,
        http=http_protocol(config.api.header_timeout_seconds),
    ))
    redact_secrets_in_logs()  # after uvicorn's logging set-up, which the Config above ran
    # Everything built so far lives as long as the process: keep it out of the collector's full
    # passes, which otherwise walk the whole heap and stall requests for 100 ms and more.
    gc.collect()
    gc.freeze()
    # Driver threads (MQTT, PLC polls), the writer and the loop share the GIL; a shorter switch
    # interval than CPython's 5 ms keeps one busy thread from holding back a count's state update.
    sys.setswitchinterval(0.001)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, lambda: setattr(server, "should_exit", True))
    try:
        if with_sources:
            await runner.start()
        if hardware is not None:
            await hardware.start()
        await server.serve()
    finally:
        if hardware is not None:
            await _bounded("the stack lights and buttons", hardware.stop())
        await _bounded("the sources", runner.stop())
        if publisher is not None:
            publisher.close()
        for output in namespaces:
            output.close()
        unwritten = await asyncio.to_thread(services.plant.close, WRITER_STOP_SECONDS)
        services.store.engine.dispose()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
        if unwritten:
            log.error("stopped with %d count event(s) unwritten (storage: %s); their senders still hold them",
                      unwritten, services.plant.writer.fault or "too slow")
        else:
            log.info("stopped; every count is written")
    return 1 if unwritten else 0
