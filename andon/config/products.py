"""Config of products: what a line may make, each product's takt and ideal cycle, and changeover targets."""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pydantic import Field, model_validator
from pydantic_core import PydanticCustomError

from andon.config.bases import StrictModel

if TYPE_CHECKING:
    from andon.config.schema import Config, LineConfig

PRODUCT_ID = r"^[A-Za-z0-9_.-]+$"


def _located(message: str, *at: str | int) -> PydanticCustomError:
    return PydanticCustomError("config", message.replace("{", "{{").replace("}", "}}"), {"at": at})


class ProductConfig(StrictModel):
    """A product a line can make, with the figures its plan and OEE use."""

    id: str = Field(description="Product id (part number), used by the API, sources and work orders.",
                    pattern=PRODUCT_ID, max_length=64)
    name: str | None = Field(None, max_length=120, description="Name shown on boards (default: the id).")
    takt_seconds: float | None = Field(
        None, ge=0.001, le=86400, description="Takt time while this product runs. Give this or demand_per_shift."
    )
    demand_per_shift: int | None = Field(
        None, gt=0, description="Parts of this product demanded per shift; its takt = net available time / demand.",
        json_schema_extra={"unit": "parts"},
    )
    ideal_cycle_seconds: float | None = Field(
        None, gt=0, le=86400, description="Fastest possible cycle per part (OEE performance)."
    )
    parts_per_cycle: int | None = Field(
        None, ge=1, le=10_000, description="Parts per counted cycle while this product runs (replaces the "
        "source's for sources this server reads; counts posted over HTTP are parts already).",
        json_schema_extra={"unit": "parts"},
    )

    @model_validator(mode="after")
    def _one_target(self) -> ProductConfig:
        if self.takt_seconds is not None and self.demand_per_shift is not None:
            raise ValueError("give takt_seconds or demand_per_shift, not both")
        return self

    @property
    def label(self) -> str:
        """Return the name shown to people."""
        return self.name or self.id


class LineProductConfig(StrictModel):
    """A product a line may run (its id, or the id with this line's own figures)."""

    id: str = Field(description="Id of a product in the top-level products list.", pattern=PRODUCT_ID, max_length=64)
    takt_seconds: float | None = Field(None, ge=0.001, le=86400, description="This line's takt for the product.")
    demand_per_shift: int | None = Field(
        None, gt=0, description="This line's demand per shift for the product.", json_schema_extra={"unit": "parts"}
    )
    ideal_cycle_seconds: float | None = Field(None, gt=0, le=86400, description="This line's ideal cycle for it.")
    parts_per_cycle: int | None = Field(
        None, ge=1, le=10_000, description="This line's parts per cycle for it.", json_schema_extra={"unit": "parts"}
    )

    @model_validator(mode="before")
    @classmethod
    def _from_id(cls, value: Any) -> Any:
        return {"id": value} if isinstance(value, str) else value

    @model_validator(mode="after")
    def _one_target(self) -> LineProductConfig:
        if self.takt_seconds is not None and self.demand_per_shift is not None:
            raise ValueError("give takt_seconds or demand_per_shift, not both")
        return self


class ChangeoverConfig(StrictModel):
    """Planned changeover times: up to them a changeover is planned; beyond, it is an unplanned stop."""

    target_minutes: float = Field(ge=0, le=1440, description="Planned time of a changeover the matrix does not name.")
    matrix: dict[str, dict[str, float]] = Field(
        default_factory=dict,
        description="Planned minutes by product changed from, then product changed to "
        "({from: {to: minutes}}); a pair it does not name takes target_minutes.",
    )

    @model_validator(mode="after")
    def _minutes(self) -> ChangeoverConfig:
        for source, row in self.matrix.items():
            for target, minutes in row.items():
                if not 0 <= minutes <= 1440:
                    raise _located(f"changeover {source} -> {target}: {minutes} minutes is outside 0 to 1440",
                                   "matrix", source, target)
        return self

    def minutes(self, source: str, target: str) -> float:
        """Return the planned minutes of a changeover from one product to another."""
        return self.matrix.get(source, {}).get(target, self.target_minutes)


@dataclass(frozen=True)
class ProductFigures:
    """A product's figures on one line: the line's override first, then the product's, then the line's own."""

    id: str
    name: str
    takt_seconds: float | None
    demand_per_shift: int | None
    ideal_cycle_seconds: float | None
    parts_per_cycle: int | None


def figures_of(products: list[ProductConfig], line: LineConfig) -> dict[str, ProductFigures]:
    """Return the figures of every product a line may run, by id, in the line's order."""
    by_id = {p.id: p for p in products}
    out: dict[str, ProductFigures] = {}
    for entry in line.products:
        product = by_id.get(entry.id)
        if product is None:
            continue
        if entry.takt_seconds is not None or entry.demand_per_shift is not None:
            takt, demand = entry.takt_seconds, entry.demand_per_shift
        elif product.takt_seconds is not None or product.demand_per_shift is not None:
            takt, demand = product.takt_seconds, product.demand_per_shift
        else:
            takt, demand = line.takt_seconds, line.demand_per_shift
        ideal = entry.ideal_cycle_seconds or product.ideal_cycle_seconds or getattr(line, "ideal_cycle_seconds", None)
        out[entry.id] = ProductFigures(
            entry.id, product.label, takt, demand, ideal, entry.parts_per_cycle or product.parts_per_cycle
        )
    return out


def _guess(name: str, known: list[str]) -> str:
    guess = difflib.get_close_matches(name, known, n=1)
    if guess:
        return f"; did you mean {guess[0]}?"
    return f"; the products are {', '.join(known)}" if known else "; there is no top-level products list"


def check_products(config: Config) -> None:
    """Check products across the file: unique ids, known products per line, a takt for each, a sound matrix."""
    ids = [p.id for p in config.products]
    for index, product_id in enumerate(ids):
        if product_id in ids[:index]:
            raise _located(f"duplicate product id {product_id!r}", "products", index, "id")
    for index, line in enumerate(config.lines):
        runnable: list[str] = []
        for place, entry in enumerate(line.products):
            if entry.id not in ids:
                raise _located(f"line {line.id!r} names unknown product {entry.id!r}{_guess(entry.id, ids)}",
                               "lines", index, "products", place)
            if entry.id in runnable:
                raise _located(f"line {line.id!r} lists product {entry.id!r} twice", "lines", index, "products", place)
            runnable.append(entry.id)
        for product_id, figures in figures_of(config.products, line).items():
            if figures.takt_seconds is None and figures.demand_per_shift is None:
                place = runnable.index(product_id)
                raise _located(f"product {product_id!r} has no takt_seconds or demand_per_shift on line {line.id!r} "
                               "(give one on the product, on the line's entry for it, or on the line)",
                               "lines", index, "products", place)
        _check_changeover(line, index, runnable)
        _check_product_sources(line, index, runnable)


def _check_changeover(line: LineConfig, index: int, runnable: list[str]) -> None:
    if line.changeover is None:
        return
    if not runnable:
        raise _located(f"line {line.id!r} has a changeover but no products", "lines", index, "changeover")
    for source, row in line.changeover.matrix.items():
        if source not in runnable:
            raise _located(f"the changeover matrix of line {line.id!r} names {source!r}, a product the line cannot run"
                           f"{_guess(source, runnable)}", "lines", index, "changeover", "matrix", source)
        for target in row:
            if target not in runnable:
                raise _located(f"the changeover matrix of line {line.id!r} names {target!r}, a product the line "
                               f"cannot run{_guess(target, runnable)}", "lines", index, "changeover", "matrix",
                               source, target)


def _check_product_sources(line: LineConfig, index: int, runnable: list[str]) -> None:
    for place, source in enumerate(line.sources):
        if getattr(source, "role", "count") != "product":
            continue
        if not runnable:
            raise _located(f"line {line.id!r} has a product source but no products", "lines", index, "sources", place)
        for number, product_id in (getattr(source, "recipes", None) or {}).items():
            if product_id not in runnable:
                raise _located(f"recipe {number} names {product_id!r}, a product line {line.id!r} cannot run"
                               f"{_guess(product_id, runnable)}", "lines", index, "sources", place, "recipes", number)
