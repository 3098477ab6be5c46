"""What `andon check-config` says beyond errors: drivers whose optional libraries are missing."""

from __future__ import annotations

from andon.config.schema import Config
from andon.extras import Library, missing_line
from devices import catalog


def library_warnings(config: Config) -> list[str]:
    """Return one warning per library that a configured driver needs and that is not installed."""
    uses: dict[Library, list[str]] = {}
    sources, lights, buttons = catalog.sources(), catalog.lights(), catalog.buttons()
    for line in config.lines:
        for source_id, source in zip(line.source_ids(), line.sources, strict=True):
            for library in sources[source.type].missing():
                uses.setdefault(library, []).append(f"the {source.type} source {line.id}/{source_id}")
        if line.stack_light is not None:
            for library in lights[line.stack_light.type].missing():
                uses.setdefault(library, []).append(f"the {line.stack_light.type} stack light of {line.id}")
        for button in line.andon.buttons:
            for library in buttons[button.type].missing():
                uses.setdefault(library, []).append(f"the {button.type} andon button of {line.id}")
    warnings = []
    for library, users in uses.items():
        what = users[0] if len(users) == 1 else f"{users[0]} (and {len(users) - 1} more)"
        warnings.append(missing_line(what, library))
    return warnings
