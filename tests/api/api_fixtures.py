"""An API on a real SQLite database with a manual clock, optionally with auth."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from fastapi.testclient import TestClient

from andon.api.app import create_app
from andon.auth import token_hash
from andon.clock import ManualClock
from andon.services import services_for
from tests.core.plant_fixtures import CONFIG, make_config, make_plant

TOKENS = {"operator": "op-secret", "supervisor": "sup-secret", "engineer": "eng-secret"}

# Braces are doubled: the text goes through str.format (for the database path) once.
AUTH = "auth:\n  public_read: PUBLIC\n  tokens:\n" + "".join(
    f"    - {{{{name: {role}-token, role: {role}, token_sha256: {token_hash(secret)}}}}}\n"
    for role, secret in TOKENS.items()
)

ANDON = """    andon:
      categories: [quality, material, maintenance, safety]
      escalation: [{{tier: team_leader, after_seconds: 0}}, {{tier: supervisor, after_seconds: 120}},
                   {{tier: manager, after_takts: 5}}]
      escalation_by_category:
        safety: [{{tier: supervisor, after_seconds: 0}}, {{tier: plant_manager, after_seconds: 30}}]
"""


def config_text(auth: bool = False, public: bool = True) -> str:
    """Return the test config, with the andon set-up on line1 and optional auth."""
    text = CONFIG.replace(
        "      - {{type: http, id: counter, mode: cumulative, bits: 16}}\n",
        "      - {{type: http, id: counter, mode: cumulative, bits: 16}}\n" + ANDON,
    )
    if auth:
        text += AUTH.replace("PUBLIC", str(public).lower())
    return text


def bearer(role: str) -> dict[str, str]:
    """Return the Authorization header of a role's test token."""
    return {"Authorization": f"Bearer {TOKENS[role]}"}


@contextmanager
def api(
    tmp_path: Path, clock: ManualClock, auth: bool = False, public: bool = True, text: str | None = None,
    webhook_options: dict[str, object] | None = None,
) -> Iterator[TestClient]:
    """Run the API (with its lifespan) for a test."""
    config = make_config(tmp_path, text or config_text(auth, public))
    plant = make_plant(config, clock)
    services = services_for(plant, webhook_options=webhook_options)
    with TestClient(create_app(services, tick_seconds=0.05)) as client:
        client.services = services  # type: ignore[attr-defined]
        yield client
    plant.close()
