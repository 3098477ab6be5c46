"""Run the count source drivers of the configured lines, each as a task that never dies."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from andon.clock import Clock
from andon.config.schema import Config
from andon.extras import missing_line
from andon.plant import Plant
from devices import catalog
from devices.base import CountSource, ReadingSink
from devices.connections import Connections

log = logging.getLogger(__name__)


class SourceRunner:
    """Start one task per configured count source and restart a driver that crashes."""

    def __init__(
        self, config: Config, sinks: Any, clock: Clock, line_ids: list[str] | None = None,
        connections: Connections | None = None, restart_delay: float = 5.0,
    ) -> None:
        self.config = config
        self.sinks = sinks
        self.connections = connections or Connections(clock, mqtt=config.mqtt)
        self.line_ids = line_ids
        self.restart_delay = restart_delay
        self.tasks: list[asyncio.Task[None]] = []
        self.drivers: dict[tuple[str, str], CountSource] = {}

    def build(self) -> None:
        """Create the driver of every source of the selected lines."""
        drivers = catalog.sources()
        for line in self.config.lines:
            if self.line_ids is not None and line.id not in self.line_ids:
                continue
            for source_id, source in zip(line.source_ids(), line.sources, strict=True):
                entry = drivers[source.type]
                if entry.driver_class is None:
                    continue
                sink: ReadingSink = self.sinks(line.id, source_id)
                absent = entry.missing()
                if absent:
                    # One clear line instead of a traceback every restart: the library will not appear.
                    what = f"the {source.type} source {line.id}/{source_id}"
                    for library in absent:
                        log.error("%s", missing_line(what, library))
                    sink.offline(f"{absent[0].package} is not installed (install andon[{absent[0].extra}])")
                    continue
                self.drivers[(line.id, source_id)] = entry.driver_class(source, sink, self.connections)

    async def start(self) -> None:
        """Start every driver as a task."""
        if not self.drivers:
            self.build()
        for (line_id, source_id), driver in self.drivers.items():
            name = f"source {line_id}/{source_id}"
            self.tasks.append(asyncio.create_task(self._keep_running(name, driver), name=name))

    async def _keep_running(self, name: str, driver: CountSource) -> None:
        while True:
            try:
                log.info("%s: reading from %s", name, driver.describe())
                await driver.run()
                return
            except asyncio.CancelledError:
                raise
            except ModuleNotFoundError as exc:
                log.error("%s stopped: %s; install the extra of andon that brings it", name, exc)
                driver.sink.offline(f"driver error: {exc}")
                return
            except Exception as exc:
                # A driver bug must not take the plant down: report it and start the driver again.
                log.exception("%s stopped with an error; restarting in %.0f s", name, self.restart_delay)
                driver.sink.offline(f"driver error: {exc}")
                await asyncio.sleep(self.restart_delay)

    async def stop(self) -> None:
        """Cancel every driver task and wait for them."""
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        self.tasks.clear()
        for driver in self.drivers.values():
            close = getattr(driver, "close", None)
            if close is not None:
                result = close()
                if asyncio.iscoroutine(result):
                    await result


def plant_sinks(plant: Plant) -> Any:
    """Return a factory of sinks that deliver into ``plant``."""
    return plant.sink
