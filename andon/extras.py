"""Optional protocol libraries: which extra of the package brings each, and the line that says so."""

from __future__ import annotations

import importlib.util
import sys
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Library:
    """A library a driver imports only when it runs, and the extra of ``andon`` that installs it."""

    module: str
    package: str
    extra: str

    def installed(self) -> bool:
        """Say whether the library can be imported."""
        try:
            return importlib.util.find_spec(self.module) is not None
        except (ImportError, ValueError):
            return False


PYMODBUS = Library("pymodbus", "pymodbus", "plc")
ASYNCUA = Library("asyncua", "asyncua", "plc")
SNAP7 = Library("snap7", "python-snap7", "plc")
PYLOGIX = Library("pylogix", "pylogix", "plc")
PYSERIAL = Library("serial", "pyserial", "serial")
GPIOZERO = Library("gpiozero", "gpiozero", "pi")
PYGAME = Library("pygame", "pygame", "display")
PROTOBUF = Library("google.protobuf", "protobuf", "sparkplug")


def pip_command() -> str:
    """Return the pip that installs into the running environment (the venv's own, when in one)."""
    if sys.prefix != sys.base_prefix:
        return str(Path(sys.prefix) / "bin" / "pip")
    return f"{Path(sys.executable).name} -m pip"


def install_hint(library: Library) -> str:
    """Return the command that installs the extra bringing ``library``."""
    return f"{pip_command()} install 'andon[{library.extra}]'"


def missing_line(what: str, library: Library) -> str:
    """Return the one line telling that ``what`` needs ``library`` and how to install it."""
    return f"{what} needs {library.package}, which is not installed: {install_hint(library)}"


def missing(libraries: tuple[Library, ...]) -> list[Library]:
    """Return the libraries of ``libraries`` that cannot be imported."""
    return [library for library in libraries if not library.installed()]
