"""`andon run`: API, engine, collector and outputs in one asyncio process."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import signal
import socket
import sys
from collections.abc import Coroutine, Iterator
from typing import Any

import uvicorn
from sqlalchemy import create_engine
from sqlalchemy.exc import SQLAlchemyError

from andon.api.app import create_app
from andon.api.listener import http_protocol, raise_open_file_limit, redact_secrets_in_logs
from andon.api.standby import standby_app
from andon.clock import Clock, SystemClock
from andon.config.schema import Config
from andon.plant import Plant
from andon.services import Services, services_for
from andon.storage import migrate
from andon.storage.lease import Holder, Lease, holder_id
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
    lease: Lease | None = None
    if config.database.startswith("postgresql"):  # one of an active/standby pair: active once it holds the lease
        try:
            lease = open_lease(config, host, port)
        except (SQLAlchemyError, OSError, migrate.MigrationError) as exc:
            _cannot_open(config, exc)
            return 2
        if not await stand_by(lease, host or config.api.host, port or config.api.port):
            lease.engine.dispose()
            return 0
    try:
        services = build_services(config, migrate_in_child=True)  # the server never imports Alembic
    except (SQLAlchemyError, OSError, migrate.MigrationError) as exc:
        _cannot_open(config, exc)
        if lease is not None:
            await asyncio.to_thread(_release, lease)
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
    publisher = attach_mqtt_outputs(services, connections.brokers)  # on the sources' connection
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
    keeper = asyncio.create_task(keep_lease(lease, server), name="lease") if lease is not None else None
    try:
        if with_sources:
            await runner.start()
        if hardware is not None:
            await hardware.start()
        await server.serve()
    finally:
        if keeper is not None:
            keeper.cancel()
            await asyncio.gather(keeper, return_exceptions=True)
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
        if lease is not None:
            if not lease_lost(keeper):
                await asyncio.to_thread(_release, lease)  # the standby takes over at its next try
            lease.engine.dispose()
    if lease_lost(keeper):
        return LEASE_LOST
    return 1 if unwritten else 0


def _cannot_open(config: Config, exc: BaseException) -> None:
    if isinstance(exc, migrate.MigrationError):
        log.error("cannot bring the database %s to revision %s: %s", config.database, migrate.HEAD, exc)
    else:
        reason = str(getattr(exc, "orig", None) or exc).splitlines()[0]
        log.error("cannot open the database %s: %s", config.database, reason)


# ---------------------------------------------------------------------------------------- active/standby
LEASE_LOST = 3  # the exit status of an active server that stepped down (systemd starts it again, as a standby)
STANDBY_TRY_SECONDS = 0.5  # a standby tries to take the lease this often


def open_lease(config: Config, host: str | None, port: int | None) -> Lease:
    """Bring the database to head and return this server's side of its lease (PostgreSQL)."""
    settings = config.availability
    port = port or config.api.port
    where = host or config.api.host
    if where in ("0.0.0.0", "::", ""):
        where = socket.getfqdn()
    name = settings.name or f"{socket.gethostname()}:{port}"
    url = settings.url or f"http://{f'[{where}]' if ':' in where else where}:{port}"
    open_database(config.database, in_child=True).dispose()
    # Its own small pool with short deadlines: a renewal must not queue behind the API's reads, nor hang.
    engine = create_engine(config.database, pool_size=1, max_overflow=1, pool_pre_ping=True,
                           connect_args={"connect_timeout": 3, "options": "-c statement_timeout=3000"})
    return Lease(engine, holder_id(name), url, settings.lease_seconds)


def _release(lease: Lease) -> None:
    try:
        lease.release()
    except SQLAlchemyError as exc:
        log.warning("could not give the lease up (the standby takes over when it runs out): %s",
                    str(getattr(exc, "orig", exc)).splitlines()[0])


def _try_hold(lease: Lease) -> bool | None:
    """Take or renew the lease: True held, False another server holds it, None the database did not answer."""
    try:
        return lease.hold()
    except SQLAlchemyError as exc:
        log.error("lease: the database did not answer: %s", str(getattr(exc, "orig", exc)).splitlines()[0])
        return None


async def stand_by(lease: Lease, host: str, port: int) -> bool:
    """Serve as the standby until this server takes the lease (True) or is asked to stop (False)."""
    if await asyncio.to_thread(_try_hold, lease):
        log.info("active: holding the lease as %s (term %s)", lease.me, lease.term)
        return True
    seen: list[Holder | None] = [await asyncio.to_thread(_holder, lease)]
    server = _Server(uvicorn.Config(standby_app(lease.me, lambda: seen[0]), host=host, port=port,
                                    log_level="warning", lifespan="off", access_log=False))
    held = False

    async def watch() -> None:
        nonlocal held
        while not server.should_exit:
            await asyncio.sleep(STANDBY_TRY_SECONDS)
            if await asyncio.to_thread(_try_hold, lease):
                held = True
                server.should_exit = True
                return
            seen[0] = await asyncio.to_thread(_holder, lease)

    now = seen[0]
    log.warning("standby: %s holds the lease (%s); taking over when it runs out", now.name if now else "nobody",
                now.url if now else "-")
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, lambda: setattr(server, "should_exit", True))
    watcher = asyncio.create_task(watch(), name="standby")
    try:
        await server.serve()
    finally:
        watcher.cancel()
        await asyncio.gather(watcher, return_exceptions=True)
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
    if held:
        log.warning("active: took the lease as %s (term %s)", lease.me, lease.term)
    return held


def _holder(lease: Lease) -> Holder | None:
    try:
        return lease.holder()
    except SQLAlchemyError:
        return None


async def keep_lease(lease: Lease, server: uvicorn.Server) -> None:
    """Renew the lease every third of its length; step down (stop the server) when another server holds it or
    it could not be renewed for two thirds of it, before a standby may take it."""
    loop = asyncio.get_running_loop()
    renewed = loop.time()
    while True:
        await asyncio.sleep(lease.seconds / 3)
        try:
            held = await asyncio.wait_for(asyncio.to_thread(_try_hold, lease), lease.seconds / 3)
        except TimeoutError:
            held = None
            log.error("lease: the database did not answer in %.1f s", lease.seconds / 3)
        if held:
            renewed = loop.time()
            continue
        if held is False or loop.time() - renewed >= lease.seconds * 2 / 3:
            why = "another server holds the lease" if held is False else "the lease could not be renewed"
            log.error("stepping down: %s; stopping (status %d) so that only one server is active", why, LEASE_LOST)
            server.should_exit = True
            raise _LeaseLost(why)


class _LeaseLost(Exception):
    pass


def lease_lost(keeper: asyncio.Task[None] | None) -> bool:
    """Say whether the lease keeper stepped this server down."""
    return keeper is not None and keeper.done() and not keeper.cancelled() \
        and isinstance(keeper.exception(), _LeaseLost)
