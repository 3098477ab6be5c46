"""A plant on a real SQLite file with a manual clock, for service and API tests."""

from __future__ import annotations

from pathlib import Path

from andon.clock import ManualClock
from andon.config.loader import parse_config
from andon.config.schema import Config
from andon.plant import Plant
from andon.storage.store import Store, open_database

CONFIG = """
plant: {{name: Test Plant, timezone: Europe/London}}
database: sqlite:///{db}
shifts:
  - id: early
    start: "06:00"
    end: "14:00"
    breaks:
      - {{start: "09:00", end: "09:15"}}
      - {{start: "11:30", end: "12:00"}}
  - id: late
    start: "14:00"
    end: "22:00"
lines:
  - id: line1
    name: Assembly 1
    takt_seconds: 60
    sources:
      - {{type: http, id: http}}
      - {{type: http, id: counter, mode: cumulative, bits: 16}}
  - id: line2
    demand_per_shift: 420
    shifts: [early]
    sources: []
"""


def make_config(tmp_path: Path, text: str = CONFIG) -> Config:
    """Return the test config with its database in ``tmp_path``."""
    return parse_config(text.format(db=tmp_path / "andon.db"))


def make_plant(config: Config, clock: ManualClock) -> Plant:
    """Open the database and build a plant on it."""
    return Plant(config, Store(open_database(config.database)), clock)


def reopen(plant: Plant, clock: ManualClock) -> Plant:
    """Close a plant (writing everything) and start a new one on the same database: a restart."""
    plant.close()
    plant.store.engine.dispose()
    return make_plant(plant.config, clock)
