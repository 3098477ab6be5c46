"""The `andon` command."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import random
import sys
import time
import uuid
from collections.abc import Coroutine, Sequence
from typing import Any

from andon.config.loader import ConfigError, load_config
from andon.config.schema import Config

DEFAULT_SERVER = "http://127.0.0.1:8000"


def _load_or_exit(path: str) -> Config:
    try:
        return load_config(path)
    except ConfigError as exc:
        print(f"{exc.source}: {len(exc.problems)} error(s)", file=sys.stderr)
        for problem in exc.problems:
            print(f"  {problem}", file=sys.stderr)
        raise SystemExit(2) from None


def run_loop(main: Coroutine[Any, Any, None]) -> None:
    """Run a coroutine on uvloop when installed (it comes with uvicorn[standard]), else asyncio."""
    try:
        import uvloop
    except ImportError:
        asyncio.run(main)
        return
    uvloop.run(main)


def cmd_check_config(args: argparse.Namespace) -> int:
    """Validate a config file and print every error with its YAML line."""
    from andon.config.check import library_warnings

    config = _load_or_exit(args.config)
    sources = sum(len(line.sources) for line in config.lines)
    print(f"{args.config}: OK — {len(config.lines)} line(s), {len(config.shifts)} shift(s), {sources} source(s)")
    for warning in library_warnings(config):
        print(f"warning: {warning}", file=sys.stderr)
    return 0


def cmd_config_reference(args: argparse.Namespace) -> int:
    """Print (or write) the reference of every config key, made from the config models."""
    from andon.config.reference import reference_markdown

    text = reference_markdown()
    if args.output:
        with open(args.output, "w", encoding="utf-8") as out:
            out.write(text)
        print(f"wrote {args.output}")
    else:
        sys.stdout.write(text)
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    """Run API, engine, collector and outputs in one process."""
    from andon.runtime import run

    config = _load_or_exit(args.config)
    status: list[int] = []

    async def main() -> None:
        status.append(await run(config, args.host, args.port, with_sources=args.command == "run"))

    with contextlib.suppress(KeyboardInterrupt):
        run_loop(main())
    return status[0] if status else 0


def cmd_collect(args: argparse.Namespace) -> int:
    """Run an edge collector: the named lines' sources, queued on disk and forwarded to a server."""
    import os
    import socket

    from collector.edge import Edge, run_edge

    config = _load_or_exit(args.config)
    name = args.edge_id or socket.gethostname().split(".")[0].replace("-", "_")
    token = args.token or os.environ.get("ANDON_TOKEN")
    try:
        edge = Edge(config, args.line, args.server, args.queue, token=token, name=name)
    except ValueError as exc:
        print(f"andon collect: {exc}", file=sys.stderr)
        return 2
    hardware = None
    lines = [line for line in config.lines if line.id in args.line]
    if not args.no_hardware and any(line.stack_light or line.andon.buttons for line in lines):
        from collector.edge_hardware import EdgeHardware

        # The same process drives the lines' stack lights and andon buttons from the server's stream.
        try:
            hardware = EdgeHardware(config, args.line, args.server, token, name=name)
        except ValueError as exc:
            print(f"andon collect: {exc}", file=sys.stderr)
            return 2
    run_edge(edge, hardware)
    return 0


def cmd_edge(args: argparse.Namespace) -> int:
    """Run the named lines' stack lights and andon buttons on an edge Pi, talking to the server."""
    import os
    import signal

    from collector.edge_hardware import run_edge_hardware

    config = _load_or_exit(args.config)
    token = args.token or os.environ.get("ANDON_TOKEN")

    async def main() -> None:
        task = asyncio.current_task()
        assert task is not None
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, task.cancel)
        with contextlib.suppress(asyncio.CancelledError):
            await run_edge_hardware(config, args.line, args.server, token)

    try:
        asyncio.run(main())
    except ValueError as exc:
        print(f"andon edge: {exc}", file=sys.stderr)
        return 2
    return 0


def cmd_db(args: argparse.Namespace) -> int:
    """Apply or inspect database migrations."""
    from andon.storage import migrate
    from andon.storage.store import open_database

    config = _load_or_exit(args.config)
    engine = open_database(config.database, upgrade=False)
    if args.action == "upgrade":
        migrate.upgrade(engine, args.revision or "head")
    elif args.action == "downgrade":
        migrate.downgrade(engine, args.revision or "base")
    print(f"database at revision {migrate.current(engine) or 'none'}")
    engine.dispose()
    return 0


def cmd_token(args: argparse.Namespace) -> int:
    """Create a bearer token in the database and print its secret once."""
    from andon.auth import TokenBook
    from andon.storage.store import Store, open_database

    config = _load_or_exit(args.config)
    store = Store(open_database(config.database))
    try:
        secret = TokenBook(config.auth, store).create(args.name, args.role, time.time())
    except ValueError as exc:
        print(f"cannot create token: {exc}", file=sys.stderr)
        return 2
    finally:
        store.engine.dispose()
    print(secret)
    print(f"token {args.name!r} ({args.role}) created; it is shown only this once", file=sys.stderr)
    if config.auth is None:
        print("note: the config has no auth section, so the API does not ask for tokens yet", file=sys.stderr)
    return 0


def cmd_orders(args: argparse.Namespace) -> int:
    """Load work orders from a CSV file into the database (ids already there are skipped)."""
    from andon.orders import import_orders, read_orders
    from andon.storage.store import Store, open_database

    config = _load_or_exit(args.config)
    try:
        with open(args.file, encoding="utf-8-sig", newline="") as source:
            text = source.read()
    except (OSError, UnicodeDecodeError) as exc:
        print(f"andon orders import: cannot read {args.file}: {exc}", file=sys.stderr)
        return 2
    _orders, errors = read_orders(config, text, args.by, time.time())  # checked before the database is opened
    if not errors:
        store = Store(open_database(config.database))
        try:
            result = import_orders(config, store, text, args.by, time.time())
        finally:
            store.engine.dispose()
        errors = result.errors
    for error in errors:
        print(f"{args.file}: {error}", file=sys.stderr)
    if errors:
        print(f"{args.file}: nothing imported ({len(errors)} error(s))", file=sys.stderr)
        return 2
    print(f"{args.file}: {len(result.created)} work order(s) imported, {len(result.skipped)} already there")
    return 0


def simulate_server(args: argparse.Namespace) -> str:
    """Return the server URL to feed: --server, else the config's api address, else the default."""
    if args.server:
        return str(args.server).rstrip("/")
    if args.config:
        api = _load_or_exit(args.config).api
        host = "127.0.0.1" if api.host in ("0.0.0.0", "::", "") else api.host
        return f"http://{'[' + host + ']' if ':' in host else host}:{api.port}"
    return DEFAULT_SERVER


def _post_count(client: Any, path: str, body: dict[str, Any], wait: float) -> Any:
    """POST one count, retrying with the same id for at most ``wait`` seconds; None if nobody answers."""
    import httpx

    deadline = time.monotonic() + wait
    pause = 0.5
    while True:
        try:
            return client.post(path, json=body)
        except httpx.HTTPError as exc:
            left = deadline - time.monotonic()
            if left <= 0:
                print(f"andon simulate: {exc}", file=sys.stderr)
                return None
            # Same id on retry: the server counts it once.
            print(f"server unreachable ({exc}); retrying for {left:.0f} s more", file=sys.stderr)
            time.sleep(min(pause, left))
            pause = min(pause * 2, 5.0)


def cmd_simulate(args: argparse.Namespace) -> int:
    """Feed a running system with simulated parts over HTTP (one server, or a pair: the active one)."""
    from andon import failover

    server = simulate_server(args)
    logging.getLogger("httpx").setLevel(logging.WARNING)  # a line per part would drown what matters
    rng = random.Random(args.seed)
    headers = {"Authorization": f"Bearer {args.token}"} if args.token else {}
    sent = 0
    try:
        urls = failover.servers(server)
    except ValueError as exc:
        print(f"andon simulate: --server: {exc}", file=sys.stderr)
        return 2
    with failover.client(urls, headers=headers, timeout=5) as client:
        while args.count is None or sent < args.count:
            body = {"count": 1, "id": str(uuid.uuid4()), "ts": time.time(),
                    "kind": "scrap" if rng.random() < args.scrap_rate else "good"}
            reply = _post_count(client, f"/api/lines/{args.line}/counts", body, args.wait)
            if reply is None:
                print(f"andon simulate: no andon server answers at {server} (tried for {args.wait:g} s); start one "
                      "(andon run config/demo.yaml) or pass --server URL or --config CONFIG", file=sys.stderr)
                return 1
            if reply.status_code >= 400:
                print(f"refused: {reply.status_code} {reply.text}", file=sys.stderr)
                return 1
            sent += 1
            if args.count is None or sent < args.count:
                time.sleep(max(0.0, rng.gauss(args.cycle, args.cycle * 0.1)))
    print(f"sent {sent} part(s) to {args.line} at {server}")
    return 0


def cmd_display(args: argparse.Namespace) -> int:
    """Run the fullscreen line display (its own options follow `display`)."""
    from display import app

    return int(app.main(args.rest) or 0)


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser of the command."""
    parser = argparse.ArgumentParser(prog="andon", description="Andon and takt system.")
    parser.add_argument("--log-level", default="INFO", help="DEBUG, INFO, WARNING or ERROR")
    sub = parser.add_subparsers(dest="command", required=True)

    for name, text in (("run", "API, engine, collector and outputs in one process"),
                       ("serve", "API and engine only (counts arrive over HTTP or from edges)")):
        p = sub.add_parser(name, help=text)
        p.add_argument("config")
        p.add_argument("--host", help="listen address (overrides api.host)")
        p.add_argument("--port", type=int, help="listen port (overrides api.port)")
        p.set_defaults(func=cmd_run)

    p = sub.add_parser("collect", help="edge collector: read the named lines' sources and forward to a server")
    p.add_argument("config")
    p.add_argument("--line", action="append", required=True, help="line to collect (repeat for more lines)")
    p.add_argument("--server", required=True, help="server URL, e.g. http://10.0.0.2:8000; an active/standby pair "
                   "as two, comma-separated (the active one is followed)")
    p.add_argument("--token", help="bearer token (default: $ANDON_TOKEN)")
    p.add_argument("--queue", default="andon-edge.db", help="SQLite file holding counts until the server has them")
    p.add_argument("--edge-id", help="name of this edge in event ids and its MQTT client id (default: host name)")
    p.add_argument("--no-hardware", action="store_true",
                   help="do not drive the lines' stack lights and andon buttons here (default: drive them)")
    p.set_defaults(func=cmd_collect)

    p = sub.add_parser("edge", help="edge Pi: run the named lines' stack lights and andon buttons for a server")
    p.add_argument("config")
    p.add_argument("--line", action="append", required=True, help="line whose light and buttons are here (repeat)")
    p.add_argument("--server", required=True, help="server URL, e.g. http://10.0.0.2:8000; an active/standby pair "
                   "as two, comma-separated (the active one is followed)")
    p.add_argument("--token", help="bearer token with the operator role (default: $ANDON_TOKEN)")
    p.set_defaults(func=cmd_edge)

    p = sub.add_parser("check-config", help="validate a config file")
    p.add_argument("config")
    p.set_defaults(func=cmd_check_config)

    p = sub.add_parser("config-reference", help="the reference of every config key (Markdown)")
    p.add_argument("-o", "--output", help="write it to this file (docs/config-reference.md) instead of stdout")
    p.set_defaults(func=cmd_config_reference)

    p = sub.add_parser("db", help="database migrations")
    p.add_argument("action", choices=["upgrade", "downgrade", "current"])
    p.add_argument("config")
    p.add_argument("--revision", help="target revision (default: head / base)")
    p.set_defaults(func=cmd_db)

    p = sub.add_parser("token", help="bearer tokens")
    token_sub = p.add_subparsers(dest="token_action", required=True)
    t = token_sub.add_parser("create", help="create a token and print its secret")
    t.add_argument("--role", required=True, choices=["operator", "supervisor", "engineer"])
    t.add_argument("--name", required=True, help="who holds it, e.g. line1-tablet")
    t.add_argument("--config", default="config/demo.yaml", help="config naming the database")
    t.set_defaults(func=cmd_token)

    p = sub.add_parser("orders", help="work orders")
    orders_sub = p.add_subparsers(dest="orders_action", required=True)
    o = orders_sub.add_parser("import", help="load work orders from a CSV file (id,line,product,quantity,due)")
    o.add_argument("file", help="CSV file with the header id,line,product,quantity,due (due optional)")
    o.add_argument("--config", default="config/demo.yaml", help="config naming the database and lines")
    o.add_argument("--by", default="import", help="who loaded them (recorded on each order)")
    o.set_defaults(func=cmd_orders)

    p = sub.add_parser("simulate", help="feed a running system with simulated parts over HTTP")
    p.add_argument("--server", help=f"server URL, or a pair comma-separated (default: the api address of --config, "
                   f"else {DEFAULT_SERVER})")
    p.add_argument("--config", help="config of the running server: its api host and port give the URL")
    p.add_argument("--wait", type=float, default=15.0,
                   help="seconds to keep retrying a server that does not answer before giving up (default 15)")
    p.add_argument("--line", required=True)
    p.add_argument("--cycle", type=float, default=5.0, help="mean seconds between parts")
    p.add_argument("--count", type=int, help="stop after this many parts (default: run forever)")
    p.add_argument("--scrap-rate", type=float, default=0.02)
    p.add_argument("--token", help="bearer token, when the server asks for one")
    p.add_argument("--seed", type=int)
    p.set_defaults(func=cmd_simulate)

    p = sub.add_parser("display", help="fullscreen line display (see `andon display --help`)", add_help=False)
    p.set_defaults(func=cmd_display, rest=[])
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command."""
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if args.command == "display":
        args.rest = extra  # the display has its own options and help
    elif extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
