"""Find the drivers: every module in ``devices/sources``, ``devices/lights`` and ``devices/buttons`` that
defines ``DRIVER`` is one, so adding a driver is adding one file.

Importing a driver module must not import its protocol library (drivers import those when they run),
so the config can be checked on a machine without the extras installed.
"""

from __future__ import annotations

import functools
import importlib
import pkgutil
from dataclasses import dataclass
from typing import Any

from andon.extras import Library


@dataclass(frozen=True)
class Driver:
    """A driver: its config ``type``, its config model and its class (None: nothing to run)."""

    name: str
    config_model: Any
    driver_class: Any

    @property
    def libraries(self) -> tuple[Library, ...]:
        """Return the optional libraries the driver needs to run."""
        return tuple(getattr(self.driver_class, "libraries", ()))

    def missing(self) -> list[Library]:
        """Return the driver's libraries that are not installed."""
        return [library for library in self.libraries if not library.installed()]


def discover(package: str) -> dict[str, Driver]:
    """Import every module of ``package`` and return the drivers they define, by type, sorted."""
    found: dict[str, Driver] = {}
    root = importlib.import_module(package)
    for info in sorted(pkgutil.iter_modules(root.__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{package}.{info.name}")
        driver = getattr(module, "DRIVER", None)
        if not isinstance(driver, Driver):
            continue
        if driver.name in found:
            raise ValueError(f"driver type {driver.name!r} is defined twice ({package})")
        found[driver.name] = driver
    return found


@functools.cache
def sources() -> dict[str, Driver]:
    """Return every count source driver, by type."""
    return discover("devices.sources")


@functools.cache
def lights() -> dict[str, Driver]:
    """Return every stack light driver, by type."""
    return discover("devices.lights")


@functools.cache
def buttons() -> dict[str, Driver]:
    """Return every andon button driver, by type."""
    return discover("devices.buttons")
