"""What every device driver shares: common config fields and the interfaces to the collector."""

from __future__ import annotations

import abc
from collections.abc import Callable
from typing import Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field

from andon.clock import Clock


class StrictModel(BaseModel):
    """A config model that refuses keys it does not know."""

    model_config = ConfigDict(extra="forbid")


class SourceConfigBase(StrictModel):
    """Keys every count source has, whatever its protocol."""

    id: str | None = Field(
        None, description="Name of this source, unique within its line (default: type and index)."
    )
    mode: Literal["cumulative", "increment", "pulse"] = Field(
        "increment",
        description="cumulative: a counter value; increment: each reading adds n; "
        "pulse: each edge adds 1 (debounced).",
    )
    kind: Literal["good", "scrap"] = Field("good", description="Whether this source counts good parts or scrap.")
    parts_per_cycle: int = Field(1, ge=1, description="Parts made per counted cycle.")
    bits: Literal[16, 32, 64] = Field(32, description="Counter width, for rollover of cumulative counters.")
    signed: bool = Field(False, description="Whether the counter is a signed integer.")
    max_jump: int = Field(
        10_000, ge=1, description="Largest believable count from one reading; bigger jumps are rejected."
    )
    debounce_seconds: float = Field(
        0.0, ge=0, description="Pulse mode: edges closer together than this are one edge."
    )
    stale_after_seconds: float = Field(
        30.0, gt=0, description="Mark the line stale when this source is silent or offline this long."
    )


class ReadingSink(Protocol):
    """Where a count source delivers what it reads. Every method is safe to call from any thread."""

    def reading(
        self,
        value: Any,
        *,
        ts: Any = None,
        event_id: str | None = None,
        kind: str | None = None,
        on_stored: Callable[[], None] | None = None,
    ) -> None:
        """Hand over one raw reading; ``on_stored`` runs once it is durably stored (or rejected).

        ``kind`` overrides the source's configured good/scrap kind for this one reading.
        """
        ...

    def online(self) -> None:
        """Report that the source answers (logged once on recovery)."""
        ...

    def offline(self, reason: str) -> None:
        """Report that the source does not answer, in words an engineer understands."""
        ...


class SourceContext:
    """Collaborators handed to a count source: the clock and connections shared between lines."""

    def __init__(self, clock: Clock, shared: dict[str, Any] | None = None) -> None:
        self.clock = clock
        self.shared: dict[str, Any] = shared if shared is not None else {}


class CountSource(abc.ABC):
    """A driver that reads production counts and hands them to a sink until cancelled."""

    def __init__(self, config: Any, sink: ReadingSink, context: SourceContext) -> None:
        self.config = config
        self.sink = sink
        self.context = context

    @abc.abstractmethod
    async def run(self) -> None:
        """Read forever (reconnecting on faults) until the task is cancelled."""

    def describe(self) -> str:
        """Say where this source reads from, for logs and the board."""
        return str(getattr(self.config, "type", type(self).__name__))
