"""What Sentinel can catch: the curve file, its drawing, and the fleet page's panel in Chromium."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from sentinel.fleet import _drawings, catch_curve, pages
from sentinel.fleet.catch_curve import CatchCurve, CurvePoint, FaultCurve

RATES = (1e-7, 1e-6, 1e-5, 1e-4, 1e-3)
SVG = "{http://www.w3.org/2000/svg}"


def _point(
    rate: float, share: float, median: float | None = 3.0, daily: float | None = None
) -> CurvePoint:
    return CurvePoint(
        rate=rate,
        trials=200,
        within_goal=share,
        within_horizon=share,
        median_periods=median,
        p95_periods=None,
        right_sm=1.0,
        probe_runs=12.0,
        probe_gpu_ms=1.5,
        diagnostic_within_day=daily,
    )


def _curve() -> CatchCurve:
    """Three kinds: a full one with a daily diagnostic, one missing 1e-7, one never caught."""
    return CatchCurve(
        measured="2025-06-01",
        command="python bench/bench_fault_curve.py",
        period_s=60.0,
        goal_periods=10,
        horizon_periods=100,
        overhead_pct=0.00019,
        healthy_runs=12896,
        false_failures=0,
        curves=[
            FaultCurve(
                "lane_flip",
                "one lane's flipped bit",
                [
                    _point(r, s, daily=0.1)
                    for r, s in zip(RATES, (0.0, 0.5, 0.995, 1.0, 1.0), strict=True)
                ],
            ),
            FaultCurve("fma_ulp", "1-ULP FMA error", [_point(r, 0.9) for r in RATES[1:]]),
            FaultCurve("hot_only", "only when hot", [_point(r, 0.0, median=None) for r in RATES]),
        ],
    )


def _svg(curve: CatchCurve) -> ET.Element:
    """The drawing, parsed as the standalone XML file the bench writes."""
    return ET.fromstring(str(_drawings.catch_curve_svg(curve)))


def _points(root: ET.Element, kind: str) -> dict[str, tuple[float, float]]:
    curve = root.find(f"{SVG}g[@data-kind='{kind}']")
    assert curve is not None
    return {
        c.attrib["data-rate"]: (float(c.attrib["cx"]), float(c.attrib["cy"]))
        for c in curve.iter(f"{SVG}circle")
        if c.attrib.get("class") == "point"
    }


def test_drawing_has_a_line_per_kind_and_a_point_per_measured_rate() -> None:
    root = _svg(_curve())
    curves = root.findall(f"{SVG}g[@class='curve']")
    assert [g.attrib["data-kind"] for g in curves] == ["lane_flip", "fma_ulp", "hot_only"]
    assert [len(g.findall(f"{SVG}path[@class='line']")) for g in curves] == [1, 1, 1]
    assert len(root.findall(f".//{SVG}circle[@class='point']")) == 5 + 4 + 5
    assert list(_points(root, "fma_ulp")) == ["1e-6", "1e-5", "1e-4", "1e-3"]
    # Only lane_flip measured the daily diagnostic: one dashed line, and its legend entry.
    assert len(root.findall(f".//{SVG}path[@class='diagnostic']")) == 1
    legend = [t.text for t in root.iterfind(f"{SVG}g[@class='legend']/{SVG}text")]
    assert legend == [
        "one lane's flipped bit",
        "1-ULP FMA error",
        "only when hot",
        "daily diagnostic (dashed)",
    ]


def test_every_point_has_a_tooltip_naming_kind_rate_share_and_median() -> None:
    root = _svg(_curve())
    curve = root.find(f"{SVG}g[@data-kind='lane_flip']")
    assert curve is not None
    tips = [c.findtext(f"{SVG}title") for c in curve.iter(f"{SVG}circle")]
    assert tips[2] == (
        "one lane's flipped bit at rate 1e-5: 99.5 % quarantined within 10 periods; "
        "median 3.0 periods; daily diagnostic 10.0 % within a day"
    )
    hot = root.find(f"{SVG}g[@data-kind='hot_only']")
    assert hot is not None
    assert all("median —" in (c.findtext(f"{SVG}title") or "") for c in hot.iter(f"{SVG}circle"))


def test_rate_is_on_a_log_axis_and_share_rises_upwards() -> None:
    root = _svg(_curve())
    pts = _points(root, "lane_flip")
    (x7, y0), (x6, y50), (x5, _), (x4, y100), (x3, _) = (
        pts[_drawings.rate_label(r)] for r in RATES
    )
    assert x7 < x6 < x5 < x4 < x3
    assert x5 == pytest.approx((x7 + x3) / 2, abs=0.1)  # 1e-5 is the middle of 1e-7 .. 1e-3
    assert x5 - x6 == pytest.approx(x4 - x5, abs=0.1)  # one decade, one width
    assert y100 < y50 < y0  # SVG y grows downwards
    ticks = [t.text for t in root.iter(f"{SVG}text") if t.attrib.get("class") == "tick"]
    assert ticks == ["1e-7", "1e-6", "1e-5", "1e-4", "1e-3"]
    goal = root.find(f"{SVG}line[@class='goal']")
    assert goal is not None
    assert float(goal.attrib["y1"]) == pytest.approx(y0 + 0.99 * (y100 - y0), abs=0.1)
    region = root.find(f"{SVG}rect[@class='goal-region']")
    assert region is not None
    assert float(region.attrib["x"]) == pytest.approx(x5, abs=0.1)


def test_drawing_stands_alone() -> None:
    """The bench writes it to docs/catch_curve.svg: it must look right without the page's CSS."""
    root = _svg(_curve())
    assert root.tag == f"{SVG}svg"
    assert root.attrib["font-family"] and root.attrib["width"] and root.attrib["height"]
    background = root[0]
    assert background.tag == f"{SVG}rect"
    assert background.attrib["fill"] == "#fff"


def test_null_figures_and_missing_points_are_skipped(tmp_path: Path) -> None:
    raw = json.loads(_curve().dumps())
    raw["curves"][0]["points"][2]["diagnostic_within_day"] = None  # 1e-5 of lane_flip
    del raw["curves"][0]["points"][1]  # 1e-6 of lane_flip
    curve = CatchCurve.loads(json.dumps(raw))
    root = _svg(curve)
    assert list(_points(root, "lane_flip")) == ["1e-7", "1e-5", "1e-4", "1e-3"]
    diagnostic = root.find(f".//{SVG}path[@class='diagnostic']")
    assert diagnostic is not None
    assert diagnostic.attrib["d"].count("L") == 2  # three of its five points remain
    broken = json.loads(_curve().dumps())
    broken["curves"][0]["points"][1]["within_goal"] = None  # not optional
    with pytest.raises(ValueError, match="within_goal is None"):
        CatchCurve.loads(json.dumps(broken))

    path = tmp_path / "curve.json"
    path.write_text(json.dumps(raw))
    panel = pages.read_catch_panel(path)
    assert panel.rates == ["1e-7", "1e-6", "1e-5", "1e-4", "1e-3"]
    kind, label, cells = panel.rows[0]
    assert (kind, label) == ("lane_flip", "one lane's flipped bit")
    assert [c.text for c in cells] == [
        "0.0 % · 3.0",
        "—",
        "99.5 % · 3.0",
        "100.0 % · 3.0",
        "100.0 % · 3.0",
    ]
    assert cells[2].title == (
        "median 3.0 periods (180 s), p95 not reached; right SM 100.0 %; "
        "12.0 probe runs, 1.50 ms of GPU time"
    )
    assert panel.rows[1][2][0].text == "—"  # fma_ulp has no 1e-7 point
    assert panel.rows[2][2][0].text == "0.0 % · —"  # never quarantined: no median


def test_a_curve_with_no_points_still_draws() -> None:
    empty = CatchCurve("2025-06-01", "bench", 60.0, 10, 100, 0.0, 0, 0)
    root = _svg(empty)
    assert root.findall(f"{SVG}g[@class='curve']") == []
    assert any(t.text == "No points recorded." for t in root.iter(f"{SVG}text"))


def test_curve_file_round_trips(tmp_path: Path) -> None:
    curve = _curve()
    assert CatchCurve.loads(curve.dumps()) == curve
    path = tmp_path / "catch_curve.json"
    path.write_text(curve.dumps())
    assert catch_curve.load(path) == curve
    assert catch_curve.load(tmp_path / "absent.json") is None


@pytest.mark.parametrize(
    "text",
    ["", "[]", "{}", '{"curves": [{"kind": "x"}]}', json.dumps({"curves": [], "period_s": 1})],
)
def test_malformed_curve_file_is_a_value_error(tmp_path: Path, text: str) -> None:
    with pytest.raises(ValueError, match="not a catch curve"):
        CatchCurve.loads(text)
    path = tmp_path / "catch_curve.json"
    path.write_text(text)
    panel = pages.read_catch_panel(path)
    assert panel.curve is None
    assert "malformed" in panel.problem and "bench/bench_fault_curve.py" in panel.problem


# -- the fleet page, in headless Chromium ------------------------------------------------


def _show(monkeypatch: pytest.MonkeyPatch, path: Path) -> None:
    monkeypatch.setattr(pages, "catch_panel", lambda: pages.read_catch_panel(path))


def test_fleet_page_shows_what_sentinel_can_catch(
    fleet_server: Any, page: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "catch_curve.json"
    path.write_text(_curve().dumps())
    _show(monkeypatch, path)
    page.goto(fleet_server.http_url + "/fleet")
    panel = page.locator("section#catch-curve")
    expect(panel.locator("h2")).to_have_text("What Sentinel can catch")
    assert panel.get_attribute("data-live") is None  # static: the live refresh leaves it be
    expect(panel.locator("svg.catch-curve")).to_be_visible()
    expect(panel.locator("svg.catch-curve g.curve")).to_have_count(3)
    expect(panel.locator("svg.catch-curve path.line")).to_have_count(3)
    expect(panel.locator("svg.catch-curve circle.point")).to_have_count(14)
    expect(panel.locator("table.catch thead th")).to_have_text(
        ["Fault", "1e-7", "1e-6", "1e-5", "1e-4", "1e-3"]
    )
    expect(panel.locator('tr[data-kind="lane_flip"] td.num')).to_have_text(
        ["0.0 % · 3.0", "50.0 % · 3.0", "99.5 % · 3.0", "100.0 % · 3.0", "100.0 % · 3.0"]
    )
    expect(panel.locator('tr[data-kind="lane_flip"] td.num').nth(2)).to_have_attribute(
        "title", re.compile(r"^median 3\.0 periods \(180 s\), p95 not reached; right SM 100\.0 %")
    )
    expect(panel.locator('tr[data-kind="fma_ulp"] td.num').first).to_have_text("—")
    expect(panel).to_contain_text("Measured 2025-06-01 over 200 faulty GPUs per point")
    expect(panel).to_contain_text("0 false failures in 12,896 healthy runs")
    # The panel comes after the GPU table and the configuration panel.
    order = page.locator("main section[id]").evaluate_all("ss => ss.map(s => s.id)")
    assert order.index("catch-curve") > order.index("config-acks") > order.index("gpu-table")


def test_fleet_page_without_a_curve_says_how_to_record_one(
    fleet_server: Any, page: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _show(monkeypatch, tmp_path / "absent.json")
    page.goto(fleet_server.http_url + "/fleet")
    panel = page.locator("section#catch-curve")
    expect(panel).to_contain_text("No curve recorded yet: run bench/bench_fault_curve.py")
    expect(panel.locator("svg")).to_have_count(0)
    expect(page.locator("#gpu-table")).to_be_visible()


def test_fleet_page_with_a_malformed_curve_still_renders(
    fleet_server: Any, page: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "catch_curve.json"
    path.write_text("{not json")
    _show(monkeypatch, path)
    response = page.goto(fleet_server.http_url + "/fleet")
    assert response.status == 200
    expect(page.locator("section#catch-curve .warn")).to_contain_text("is malformed")
