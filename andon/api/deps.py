"""Services handed to request handlers with ``Depends``: each route asks for the one it needs."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException, Request

from andon.andons import AndonService
from andon.line import LineRuntime
from andon.live import LineStates, LiveHub
from andon.orders import WorkOrderService
from andon.payload import excerpt
from andon.people import People
from andon.plant import Plant, UnknownLine
from andon.problems import ProblemService
from andon.products import ProductService
from andon.services import Services
from andon.summary import Summaries


def get_services(request: Request) -> Services:
    """Return the process's services."""
    services: Services = request.app.state.services
    return services


AllServices = Annotated[Services, Depends(get_services)]


def get_plant(services: AllServices) -> Plant:
    """Return the plant service."""
    return services.plant


def get_andons(services: AllServices) -> AndonService:
    """Return the andon service."""
    return services.andons


def get_people(services: AllServices) -> People:
    """Return the people resolver (``by`` to a person id)."""
    return services.people


def get_problems(services: AllServices) -> ProblemService:
    """Return the problem service."""
    return services.problems


def get_summaries(services: AllServices) -> Summaries:
    """Return the summaries service."""
    return services.summaries


def get_states(services: AllServices) -> LineStates:
    """Return the line states (with their open andon calls)."""
    return services.states


def get_hub(services: AllServices) -> LiveHub:
    """Return the live hub."""
    return services.hub


def get_line(line: str, plant: Annotated[Plant, Depends(get_plant)]) -> LineRuntime:
    """Return the runtime of the line named in the path, or 404."""
    try:
        return plant.line(line)
    except UnknownLine:
        raise HTTPException(404, f"no line {excerpt(line)}; GET /api/lines lists the lines") from None


Andons = Annotated[AndonService, Depends(get_andons)]
PeopleDep = Annotated[People, Depends(get_people)]
Problems = Annotated[ProblemService, Depends(get_problems)]
States = Annotated[LineStates, Depends(get_states)]
Line = Annotated[LineRuntime, Depends(get_line)]


def get_products(services: AllServices) -> ProductService:
    """Return the product service (runs, not-scheduled periods)."""
    return services.products


def get_orders(services: AllServices) -> WorkOrderService:
    """Return the work order service."""
    return services.orders


Products = Annotated[ProductService, Depends(get_products)]
Orders = Annotated[WorkOrderService, Depends(get_orders)]
