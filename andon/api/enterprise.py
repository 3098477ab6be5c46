"""Route for the enterprise view: this plant and the other plants' servers, each shown reachable or not."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from andon.api.deps import AllServices
from andon.api.schemas import EnterpriseOut
from andon.api.security import Reader
from andon.enterprise import enterprise_view, plant_view

router = APIRouter(prefix="/api")


@router.get("/enterprise", response_model=EnterpriseOut, tags=["trends"])
async def get_enterprise(_reader: Reader, services: AllServices) -> dict[str, Any]:
    """This plant's lines and every plant under ``enterprise.plants``, asked at once; one that does not answer in
    ``enterprise.timeout_seconds`` (or refuses) is shown unreachable with the reason. Totals add up those read."""
    config = services.config
    lines = [
        {"id": line.id, "name": line.config.display_name, "state": services.states.of(line.id).model_dump()}
        for line in services.plant.lines.values()
    ]
    here = plant_view("local", config.plant.name, None, lines)
    return await enterprise_view(config.enterprise, here)
