"""Map a config ``type`` to its model and driver class, one module per driver."""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any

from andon.extras import Library

# Modules holding one driver each; importing them must not import protocol libraries
# (those load lazily inside the driver), so config checks work without the extras installed.
SOURCE_MODULES: tuple[str, ...] = (
    "devices.simulator",
    "devices.http",
    "devices.serial_line",
    "devices.gpio_pulse",
    "devices.ethernetip",
    "devices.modbus",
    "devices.opcua",
    "devices.s7",
    "devices.mqtt",
)
LIGHT_MODULES: tuple[str, ...] = (
    "devices.light_gpio",
    "devices.light_patlite",
    "devices.light_modbus",
    "devices.light_mqtt",
)
BUTTON_MODULES: tuple[str, ...] = (
    "devices.button_gpio",
    "devices.button_mqtt",
    "devices.button_serial",
)


@dataclass(frozen=True)
class Driver:
    """A registered driver: its config ``type``, its config model and its class."""

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


_sources: dict[str, Driver] = {}
_lights: dict[str, Driver] = {}
_buttons: dict[str, Driver] = {}


def _register(table: dict[str, Driver], type_name: str, model: type[Any], cls: type[Any] | None) -> None:
    existing = table.get(type_name)
    if existing is not None and existing.driver_class is not cls:
        raise ValueError(f"driver type {type_name!r} registered twice")
    table[type_name] = Driver(type_name, model, cls)


def register_source(type_name: str, model: type[Any], cls: type[Any] | None) -> None:
    """Register a count source driver."""
    _register(_sources, type_name, model, cls)


def register_light(type_name: str, model: type[Any], cls: type[Any] | None) -> None:
    """Register a stack light driver."""
    _register(_lights, type_name, model, cls)


def register_button(type_name: str, model: type[Any], cls: type[Any] | None) -> None:
    """Register an andon button driver."""
    _register(_buttons, type_name, model, cls)


def _load(modules: tuple[str, ...]) -> None:
    for name in modules:
        importlib.import_module(name)


def sources() -> dict[str, Driver]:
    """Return every count source driver, by type."""
    _load(SOURCE_MODULES)
    return dict(_sources)


def lights() -> dict[str, Driver]:
    """Return every stack light driver, by type."""
    _load(LIGHT_MODULES)
    return dict(_lights)


def buttons() -> dict[str, Driver]:
    """Return every andon button driver, by type."""
    _load(BUTTON_MODULES)
    return dict(_buttons)
