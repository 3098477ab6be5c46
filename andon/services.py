"""Every service of a server process, with typed fields, built in one place (``services_for``).

The API gets them through ``Depends``, the collector and outputs from the composition root
(``andon/runtime.py``); nothing is looked up by string keys.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from prometheus_client import Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from andon.andons import AndonService
from andon.auth import TokenBook
from andon.clock import Clock
from andon.config.schema import Config
from andon.handover import HandoverService
from andon.live import LineStates, LiveHub
from andon.notify import Notifier
from andon.orders import WorkOrderService
from andon.pareto import LossReports
from andon.people import People
from andon.plant import Plant
from andon.problems import ProblemService
from andon.products import ProductService
from andon.signoffs import SignoffService
from andon.sqdc import SqdcBoard
from andon.stops import StopService
from andon.storage.store import Store
from andon.summary import Summaries
from andon.webhook import WebhookSender


class ApiMetrics:
    """The server's own Prometheus metrics beside the plant's: API latency, open calls, storage health."""

    def __init__(self, plant: Plant, andons: AndonService, stops: StopService) -> None:
        registry = plant.metrics.registry
        writer = plant.writer
        self.latency = Histogram(
            "andon_api_request_seconds", "API latency", ["method", "route"], registry=registry,
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0),
        )
        Gauge("andon_open_calls", "Open andon calls", registry=registry).set_function(andons.open_count)
        stop_gauges = StopGauges(plant, stops)
        registry.register(stop_gauges)
        storage_up = Gauge("andon_storage_up", "1 while storage can write, 0 while it cannot", registry=registry)
        storage_up.set_function(lambda: 0 if writer.fault is not None else 1)
        unwritten = Gauge("andon_events_unwritten", "Count events queued and not yet committed", registry=registry)
        unwritten.set_function(lambda: writer.unwritten)


class StopGauges(Collector):
    """Open stops and unexplained stop minutes of the current shift, per line, read at scrape time."""

    def __init__(self, plant: Plant, stops: StopService) -> None:
        self.plant = plant
        self.stops = stops

    def describe(self) -> list[Metric]:
        """Name the families without computing them."""
        return []

    def collect(self) -> Iterator[Metric]:
        """Count each line's open stops and unexplained minutes in its current shift."""
        open_family = GaugeMetricFamily("andon_open_stops", "Open stops of the line", labels=["line"])
        minutes = GaugeMetricFamily("andon_unexplained_stop_minutes",
                                    "Minutes of stops without a reason in the current shift", labels=["line"])
        now = self.plant.clock.now()
        for line in self.plant.lines.values():
            instance = line.calendar.at(now)
            described = [self.stops.describe(line, r, now) for r in self.stops.sync(line, instance, now)] \
                if instance is not None else []
            open_family.add_metric([line.id], float(sum(1 for d in described if d["open"])))
            unexplained = sum(d["seconds"] for d in described if d["reason"] is None and not d["small"])
            minutes.add_metric([line.id], round(unexplained / 60, 3))
        yield open_family
        yield minutes


@dataclass(eq=False)
class Services:
    """Everything a server process runs, built once."""

    config: Config
    clock: Clock
    store: Store
    plant: Plant
    andons: AndonService
    problems: ProblemService
    stops: StopService
    losses: LossReports
    summaries: Summaries
    tokens: TokenBook
    states: LineStates
    hub: LiveHub
    webhooks: WebhookSender | None
    metrics: ApiMetrics
    products: ProductService
    orders: WorkOrderService
    signoffs: SignoffService
    handover: HandoverService
    sqdc: SqdcBoard
    people: People
    notifier: Notifier


def services_for(plant: Plant, *, webhook_options: dict[str, Any] | None = None) -> Services:
    """Build every service around a plant (its config, store and clock) and wire their events to the hub."""
    config, store, clock = plant.config, plant.store, plant.clock
    andons = AndonService(config, plant, store, clock)
    stops = StopService(plant, store, clock)
    problems = ProblemService(plant, store, clock, stops)
    states = LineStates(plant, andons, stops)
    hub = LiveHub(plant, states)
    andons.listeners.append(hub.event)
    andons.listeners.append(stops.on_andon)
    problems.listeners.append(hub.event)
    stops.listeners.append(hub.event)
    products = ProductService(plant, store, clock)
    products.listeners.append(hub.event)
    plant.products = products  # product sources' readings (MQTT, PLC recipe numbers) go to it
    orders = WorkOrderService(config, plant, store, clock, products)
    urls = {line.id: line.andon.webhook_url for line in config.lines if line.andon.webhook_url}
    webhooks = WebhookSender(urls, **(webhook_options or {})) if urls else None
    if webhooks is not None:
        hub.event_listeners.append(webhooks.on_event)
    notifier = Notifier(config, store, clock)
    if notifier.enabled:
        hub.event_listeners.append(notifier.on_event)
    summaries = Summaries(plant, clock)
    return Services(
        config=config, clock=clock, store=store, plant=plant, andons=andons, problems=problems, stops=stops,
        losses=LossReports(plant, stops, clock),
        summaries=summaries, tokens=TokenBook(config.auth, store), states=states, hub=hub,
        webhooks=webhooks, metrics=ApiMetrics(plant, andons, stops), products=products, orders=orders,
        signoffs=SignoffService(plant, store, clock),
        handover=HandoverService(plant, store, clock, andons, problems, stops), sqdc=SqdcBoard(plant, summaries),
        people=People(config), notifier=notifier,
    )
