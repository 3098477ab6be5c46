"""Work orders: a quantity of one product for one line, planned -> started (which sets the product) <-> paused
-> completed; their progress (made, remaining, expected finish); loading them from a CSV file."""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field, replace
from typing import Any

from andon.clock import Clock
from andon.config.products import figures_of
from andon.config.schema import Config
from andon.counting import RejectedReading, parse_instant
from andon.errors import ServiceError
from andon.line import LineRuntime, iso
from andon.plant import Plant
from andon.production_view import work_order_view
from andon.products import ProductService
from andon.runs import WORK_ORDER_STATES, WorkOrder
from andon.storage import production
from andon.storage.store import Store

ORDER_ID = re.compile(r"^[A-Za-z0-9_.:/-]{1,64}$")
CSV_COLUMNS = ("id", "line", "product", "quantity", "due")
MAX_QUANTITY = 10_000_000


def check_order(config: Config, order_id: str, line_id: str, product: str, quantity: Any) -> None:
    """Refuse a work order naming an unknown line or a product the line cannot run, or a bad id or quantity."""
    if not ORDER_ID.match(order_id):
        raise ServiceError(422, f"work order id {order_id[:40]!r} must be 1 to 64 letters, digits or _ . : / -")
    try:
        line = config.line(line_id)
    except KeyError:
        raise ServiceError(404, f"no line {line_id[:64]!r}") from None
    runnable = figures_of(config.products, line)
    if product not in runnable:
        raise ServiceError(422, f"line {line_id!r} cannot run product {product[:64]!r}; it runs "
                                f"{', '.join(runnable) or 'no products'}")
    if isinstance(quantity, bool) or not isinstance(quantity, int) or not 1 <= quantity <= MAX_QUANTITY:
        raise ServiceError(422, f"quantity must be a whole number from 1 to {MAX_QUANTITY}")


@dataclass
class ImportResult:
    """What a CSV import did: orders created, ids already there, and refused rows with why."""

    created: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def read_orders(config: Config, text: str, by: str, now: float) -> tuple[list[WorkOrder], list[str]]:
    """Read work orders from CSV text (header ``id,line,product,quantity,due``); return them and the bad rows."""
    errors: list[str] = []
    reader = csv.DictReader(io.StringIO(text))
    missing = [c for c in CSV_COLUMNS[:4] if c not in (reader.fieldnames or [])]
    if missing:
        return [], [f"the header lacks {', '.join(missing)} (columns: {', '.join(CSV_COLUMNS)})"]
    orders: list[WorkOrder] = []
    seen: set[str] = set()
    try:
        for number, row in enumerate(reader, start=2):
            try:
                order = _order_from_row(config, row, by, now)
            except ServiceError as exc:
                errors.append(f"line {number}: {exc}")
                continue
            if order.id in seen:
                errors.append(f"line {number}: work order {order.id!r} is listed twice")
                continue
            seen.add(order.id)
            orders.append(order)
    except csv.Error as exc:
        errors.append(f"not readable as CSV: {exc}")
    return orders, errors


def import_orders(config: Config, store: Store, text: str, by: str, now: float) -> ImportResult:
    """Load work orders from CSV text; nothing is stored when a row is bad; ids already stored are skipped."""
    orders, errors = read_orders(config, text, by, now)
    result = ImportResult(errors=errors)
    if errors:
        return result
    known = production.existing_orders(store, [o.id for o in orders])
    with store.transaction() as s:
        for order in orders:
            if order.id in known:
                result.skipped.append(order.id)
            else:
                production.add_order(s, order)
                result.created.append(order.id)
    return result


def _order_from_row(config: Config, row: dict[str, Any], by: str, now: float) -> WorkOrder:
    order_id, line_id, product = (str(row.get(k) or "").strip() for k in ("id", "line", "product"))
    text = str(row.get("quantity") or "").strip()
    if not text.isdigit():
        raise ServiceError(422, f"quantity {text[:20]!r} is not a whole number")
    quantity = int(text)
    check_order(config, order_id, line_id, product, quantity)
    due_text = str(row.get("due") or "").strip()
    due = None
    if due_text:
        try:
            due = parse_instant(due_text)
        except RejectedReading as exc:
            raise ServiceError(422, f"due {due_text[:40]!r}: {exc}") from None
    return WorkOrder(order_id, line_id, product, quantity, due, "planned", now, by)


class WorkOrderService:
    """Create, start, complete and list work orders."""

    def __init__(self, config: Config, plant: Plant, store: Store, clock: Clock, products: ProductService) -> None:
        self.config = config
        self.plant = plant
        self.store = store
        self.clock = clock
        self.products = products

    def _get(self, order_id: str) -> WorkOrder:
        order = production.get_order(self.store, order_id)
        if order is None:
            raise ServiceError(404, f"no work order {order_id[:64]!r}")
        return order

    def create(self, order_id: str, line_id: str, product: str, quantity: int, due: float | None,
               by: str) -> dict[str, Any]:
        """Store a new (planned) work order."""
        check_order(self.config, order_id, line_id, product, quantity)
        if production.get_order(self.store, order_id) is not None:
            raise ServiceError(409, f"work order {order_id!r} exists already")
        order = WorkOrder(order_id, line_id, product, quantity, due, "planned", self.clock.now(), by)
        with self.store.transaction() as s:
            production.add_order(s, order)
        self._announce("created", order)
        return self.describe(order)

    def start(self, order_id: str, at: float | None, by: str) -> dict[str, Any]:
        """Start an order: its line makes its product for it from ``at`` (default now); a running order pauses."""
        order = self._get(order_id)
        if order.state == "completed":
            raise ServiceError(409, f"work order {order_id!r} is completed")
        line = self.plant.line(order.line)
        current = line.timeline.current()
        if order.state == "started" and current is not None and current.work_order == order.id:
            return self.describe(order)
        self.products.set_product(order.line, order.product, at=at, work_order=order.id, by=by, source="work_order")
        return self.describe(self._get(order_id))

    def complete(self, order_id: str, at: float | None, by: str) -> dict[str, Any]:
        """Complete an order; if its line is making it, the line goes on with the product without an order."""
        order = self._get(order_id)
        if order.state == "completed":
            raise ServiceError(409, f"work order {order_id!r} is completed already")
        now = self.clock.now() if at is None else min(at, self.clock.now())
        with self.store.transaction() as s:
            production.set_order_state(s, order.id, "completed", now)
        line = self.plant.line(order.line)
        done = replace(order, state="completed", completed_at=now)
        with line.lock:
            if order.id in line.timeline.orders:
                line.timeline.orders[order.id] = done
            current = line.timeline.current()
        if current is not None and current.work_order == order.id:
            self.products.set_product(order.line, current.product, at=at, work_order=None, by=by,
                                      source="work_order")
        self._announce("completed", done)
        return self.describe(done)

    def list(self, line_id: str | None = None, state: str | None = None) -> list[dict[str, Any]]:
        """Return work orders (the open ones first), each with its progress."""
        if state is not None and state not in WORK_ORDER_STATES:
            raise ServiceError(422, f"state must be one of {', '.join(WORK_ORDER_STATES)}")
        if line_id is not None and line_id not in self.plant.lines:
            raise ServiceError(404, f"no line {line_id[:64]!r}")
        return [self.describe(o) for o in production.list_orders(self.store, line_id, state)]

    def get(self, order_id: str) -> dict[str, Any]:
        """Return one work order with its progress."""
        return self.describe(self._get(order_id))

    def describe(self, order: WorkOrder) -> dict[str, Any]:
        """Describe an order for JSON: its figures, made, remaining and (while it runs) its expected finish."""
        line = self.plant.line(order.line)
        now = self.clock.now()
        with line.lock:
            current = line.timeline.current()
            tracked = order.id in line.timeline.made
            made = line.timeline.made.get(order.id, 0)
            running = current is not None and current.work_order == order.id and current.covers(now)
            finish = work_order_view(line, current, now)["expected_finish"] if running and current else None
        if not tracked:
            made = self._made(line, order.id)
        return {
            "id": order.id, "line": order.line, "product": order.product, "quantity": order.quantity,
            "due": iso(order.due), "state": order.state, "made": made, "remaining": max(0, order.quantity - made),
            "expected_finish": finish, "created_at": iso(order.created_at), "created_by": order.created_by,
            "started_at": iso(order.started_at), "completed_at": iso(order.completed_at),
        }

    def _made(self, line: LineRuntime, order_id: str) -> int:
        spans = [(r.start, r.end) for r in line.timeline.order_runs(order_id)]
        return production.made_between(self.store, line.id, spans)

    def import_csv(self, text: str, by: str) -> ImportResult:
        """Load orders from CSV text; announce each one created."""
        result = import_orders(self.config, self.store, text, by, self.clock.now())
        for order_id in result.created:
            order = production.get_order(self.store, order_id)
            if order is not None:
                self._announce("created", order)
        return result

    def _announce(self, action: str, order: WorkOrder) -> None:
        self.products.announce({"type": "work_order", "line": order.line, "action": action,
                                "order": {"id": order.id, "product": order.product, "state": order.state,
                                          "quantity": order.quantity}})
