"""What product sources share: a value that selects the product (a product id, or a recipe number mapped to
one), handed to the sink's ``product`` method. Product sources run where the engine runs its sources (``andon
run``); an edge collector's sink has no ``product``, so there they report themselves offline."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from pydantic import Field

from andon.payload import excerpt
from devices.base import CountSource

PRODUCT_ID = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
NOT_HERE = "product sources are read by `andon run`, not by an edge collector (set the product over the API there)"


def recipes_field() -> Any:
    """Return the config field mapping recipe numbers to product ids."""
    return Field(
        default_factory=dict,
        description="Recipe or product number -> product id ({3: widget-b}); empty: the value is the product id.",
    )


class RefusedProduct(ValueError):
    """A value that names no product; ``reason`` is the short name counted in metrics."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason


def product_of(raw: Any, recipes: Mapping[int, str]) -> str:
    """Return the product id a value selects, through ``recipes`` when given; raise RefusedProduct if none."""
    if recipes:
        number: int | None = None
        if isinstance(raw, int) and not isinstance(raw, bool):
            number = raw
        elif isinstance(raw, str) and raw.strip().lstrip("+-").isdigit() and len(raw.strip()) <= 19:
            number = int(raw.strip())
        if number is None:
            raise RefusedProduct("not_a_recipe", f"value {excerpt(raw, 40)}")
        if number not in recipes:
            raise RefusedProduct("unknown_recipe", f"recipe {number} is not in recipes {sorted(recipes)}")
        return recipes[number]
    text = raw.strip() if isinstance(raw, str) else str(raw) if isinstance(raw, int) and not isinstance(raw, bool) \
        else None
    if text is None or not PRODUCT_ID.match(text):
        raise RefusedProduct("bad_product", f"value {excerpt(raw, 40)}")
    return text


def hand_over(source: CountSource, value: Any, *, ts: Any = None, on_stored: Callable[[], None] | None = None) -> bool:
    """Give a product value to the sink; a sink that raises never stops the driver. Return whether it took it."""
    product = getattr(source.sink, "product", None)
    if product is None:
        source.reject("not_on_an_edge", NOT_HERE)
        source.sink.offline(NOT_HERE)
        if on_stored is not None:
            on_stored()
        return False
    return source.hand(lambda: product(value, ts=ts, on_stored=on_stored), "product reading", value, on_stored)
