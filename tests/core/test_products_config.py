"""Product config: what `andon check-config` catches (unknown products, a matrix naming products the line cannot
run, a product without a takt), each at its YAML line; the figures a line gives each product."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from andon.config.loader import ConfigError, parse_config
from andon.config.products import figures_of

BASE = """plant: {name: P, timezone: UTC}
shifts:
  - {id: early, start: "06:00", end: "14:00"}
products:
  - {id: A, takt_seconds: 60}
  - {id: B, demand_per_shift: 400, ideal_cycle_seconds: 40}
  - {id: C}
lines:
  - id: line1
    products: [A, B]
    changeover: {target_minutes: 15, matrix: {A: {B: 10}}}
"""


def problems(text: str) -> list[str]:
    """Return the config's errors, each with its YAML line."""
    try:
        parse_config(text)
    except ConfigError as exc:
        return [str(p) for p in exc.problems]
    return []


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ((), []),
        (("products: [A, B]", "products: [A, Bx]"),
         ["line 10: lines[0].products[1]: line 'line1' names unknown product 'Bx'; did you mean B?"]),
        (("{A: {B: 10}}", "{A: {C: 10}}"),
         ["line 11: lines[0].changeover.matrix.A.C: the changeover matrix of line 'line1' names 'C', a product the "
          "line cannot run; the products are A, B"]),
        (("{A: {B: 10}}", "{D: {B: 10}}"),
         ["line 11: lines[0].changeover.matrix.D: the changeover matrix of line 'line1' names 'D', a product the "
          "line cannot run; the products are A, B"]),
        (("products: [A, B]", "products: [A, C]"),
         ["line 10: lines[0].products[1]: product 'C' has no takt_seconds or demand_per_shift on line 'line1' (give "
          "one on the product, on the line's entry for it, or on the line)"]),
        (("products: [A, B]", "products: [A, A]"),
         ["line 10: lines[0].products[1]: line 'line1' lists product 'A' twice"]),
        (("  - {id: C}", "  - {id: A}"), ["line 7: products[2].id: duplicate product id 'A'"]),
        (("{id: A, takt_seconds: 60}", "{id: A, takt_seconds: 60, demand_per_shift: 3}"),
         ["line 5: products[0]: give takt_seconds or demand_per_shift, not both"]),
        (("matrix: {A: {B: 10}}", "matrix: {A: {B: 2000}}"),
         ["line 11: lines[0].changeover.matrix.A.B: changeover A -> B: 2000.0 minutes is outside 0 to 1440"]),
        (("    products: [A, B]\n", ""),
         ["line 9: lines[0]: give takt_seconds or demand_per_shift"]),
        (("    products: [A, B]\n", "    takt_seconds: 60\n"),
         ["line 11: lines[0].changeover: line 'line1' has a changeover but no products"]),
    ],
)
def test_product_errors_name_the_line_and_key(change: tuple[str, str], expected: list[str]) -> None:
    text = BASE.replace(*change) if change else BASE
    assert problems(text) == expected


def test_a_product_source_may_map_only_products_the_line_runs() -> None:
    text = BASE + "    sources:\n      - {type: modbus_product, host: plc, register: 3, recipes: {1: A, 2: C}}\n"
    assert problems(text) == [
        "line 13: lines[0].sources[0].recipes[2]: recipe 2 names 'C', a product line 'line1' cannot run; "
        "the products are A, B"]
    plain = BASE.replace("    products: [A, B]\n    changeover: {target_minutes: 15, matrix: {A: {B: 10}}}\n",
                         "    takt_seconds: 60\n")
    assert problems(plain + "    sources: [{type: mqtt_product, topic: p/x}]\n") == [
        "line 11: lines[0].sources[0]: line 'line1' has a product source but no products"]


def test_the_line_override_comes_first_then_the_product_then_the_line() -> None:
    config = parse_config(BASE.replace("products: [A, B]", "products: [{id: A, takt_seconds: 50}, B]"))
    figures = figures_of(config.products, config.lines[0])
    assert list(figures) == ["A", "B"]
    assert (figures["A"].takt_seconds, figures["A"].demand_per_shift) == (50, None)
    assert (figures["B"].takt_seconds, figures["B"].demand_per_shift, figures["B"].ideal_cycle_seconds) == (
        None, 400, 40)


def test_check_config_reports_a_matrix_naming_a_product_the_line_cannot_run(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(BASE.replace("{A: {B: 10}}", "{A: {C: 10}}"))
    done = subprocess.run([sys.executable, "-m", "andon.cli", "check-config", str(path)],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        f"{path}: 1 error(s)",
        "  line 11: lines[0].changeover.matrix.A.C: the changeover matrix of line 'line1' names 'C', a product the "
        "line cannot run; the products are A, B",
    ]


def test_the_demo_and_example_configs_have_products_and_pass() -> None:
    root = Path(__file__).resolve().parents[2]
    for name in ("demo.yaml", "example.yaml"):
        done = subprocess.run([sys.executable, "-m", "andon.cli", "check-config", str(root / "config" / name)],
                              capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
    demo = parse_config((root / "config" / "demo.yaml").read_text())
    assert [p.id for p in demo.line("line1").products] == ["widget-a", "widget-b"]
