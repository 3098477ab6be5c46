"""`andon orders import FILE`: work orders from a CSV file into the database; bad rows stop it with their lines."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from andon.config.loader import parse_config
from andon.storage import production
from andon.storage.store import Store, open_database
from tests.core.test_products_plant import CONFIG


def orders_import(config: Path, csv: Path) -> subprocess.CompletedProcess[str]:
    """Run the command as a user would."""
    return subprocess.run([sys.executable, "-m", "andon.cli", "orders", "import", str(csv), "--config", str(config)],
                          capture_output=True, text=True, timeout=60)


def said(done: subprocess.CompletedProcess[str]) -> list[str]:
    """Return what the command said on stderr, without the log lines of the libraries it loads."""
    return [line for line in done.stderr.splitlines() if " INFO " not in line]


def test_orders_import_loads_a_csv_once(tmp_path: Path) -> None:
    config = tmp_path / "plant.yaml"
    config.write_text(CONFIG.format(db=tmp_path / "andon.db"))
    csv = tmp_path / "orders.csv"
    csv.write_text("id,line,product,quantity,due\r\nWO-10,l1,A,300,2026-11-26T06:00:00+00:00\r\nWO-11,l1,B,120,\r\n")
    done = orders_import(config, csv)
    assert (done.returncode, done.stdout) == (0, f"{csv}: 2 work order(s) imported, 0 already there\n")
    again = orders_import(config, csv)
    assert (again.returncode, again.stdout) == (0, f"{csv}: 0 work order(s) imported, 2 already there\n")
    store = Store(open_database(parse_config(config.read_text()).database))
    orders = production.list_orders(store)
    store.engine.dispose()
    assert [(o.id, o.line, o.product, o.quantity, o.due, o.state, o.created_by) for o in orders] == [
        ("WO-10", "l1", "A", 300, 1795672800.0, "planned", "import"),
        ("WO-11", "l1", "B", 120, None, "planned", "import"),
    ]


def test_a_bad_row_imports_nothing_and_says_where(tmp_path: Path) -> None:
    config = tmp_path / "plant.yaml"
    config.write_text(CONFIG.format(db=tmp_path / "andon.db"))
    csv = tmp_path / "orders.csv"
    csv.write_text("id,line,product,quantity\nWO-1,l1,A,10\nWO-2,l9,A,10\nWO-3,l1,A,ten\nWO-1,l1,A,5\n")
    done = orders_import(config, csv)
    assert done.returncode == 2
    assert said(done) == [
        f"{csv}: line 3: no line 'l9'",
        f"{csv}: line 4: quantity 'ten' is not a whole number",
        f"{csv}: line 5: work order 'WO-1' is listed twice",
        f"{csv}: nothing imported (3 error(s))",
    ]
    header = tmp_path / "header.csv"
    header.write_text("order,line\nWO-1,l1\n")
    done = orders_import(config, header)
    assert done.returncode == 2 and "the header lacks id, product, quantity" in done.stderr
    missing = orders_import(config, tmp_path / "absent.csv")
    assert missing.returncode == 2 and "cannot read" in missing.stderr
