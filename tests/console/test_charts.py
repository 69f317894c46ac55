"""The console's SVG charts and the usage and run figures: pure functions, no app."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import UTC, date, datetime
from decimal import Decimal

from codex32.console import charts, run_figures, usage_figures
from codex32.console.charts import Limit, Point

SVG = "{http://www.w3.org/2000/svg}"


def svg_of(markup: str) -> ET.Element:
    start, end = markup.index("<svg"), markup.index("</svg>") + len("</svg>")
    return ET.fromstring(markup[start:end])


def test_columns_draw_a_bar_per_day_and_a_dashed_limit_line():
    points = [Point("Dec 1", Decimal("1.5"), "2026-12-01"), Point("Dec 2", Decimal("4"))]
    markup = charts.columns("spend", "Spend per day", points, unit="usd",
                            limit=Limit(Decimal("3"), "Daily hard limit"))
    svg = svg_of(markup)
    assert svg.get("role") == "img"
    assert svg.get("aria-labelledby") == "spend-title spend-desc"
    rects = svg.findall(f"{SVG}rect")
    assert len(rects) == 2
    assert rects[0].get("class") == "bar" and rects[1].get("class") == "bar over"
    assert float(rects[1].get("height")) > float(rects[0].get("height"))
    assert "(over the limit)" in rects[1].find(f"{SVG}title").text
    assert [line for line in svg.findall(f"{SVG}line") if line.get("class") == "limit"]
    desc = svg.find(f"{SVG}desc").text
    assert "$5.50 in all" in desc and "Daily hard limit: $3.00; 1 of 2 over it." in desc


def test_every_number_is_also_in_the_table():
    markup = charts.bars("models", "Spend per model",
                         [Point("gpt-x", Decimal("0.0042")), Point("local", Decimal(0))],
                         unit="usd")
    table = markup[markup.index("<table"):]
    assert "<th scope=\"row\">gpt-x</th><td>$0.0042</td>" in table
    assert "<th scope=\"row\">local</th><td>$0.00</td>" in table


def test_labels_are_escaped():
    markup = charts.bars("m", "By model", [Point("<script>x</script>", 3)], unit="tokens")
    assert "<script>" not in markup
    assert "&lt;script&gt;" in markup
    svg_of(markup)  # still well-formed


def test_an_empty_chart_says_so():
    markup = charts.bars("m", "Tokens per purpose", [], unit="tokens")
    assert "nothing recorded" in markup
    assert "Tokens per purpose: nothing recorded." in markup


def test_axis_ticks_fall_on_round_numbers():
    assert charts.nice_ceiling(Decimal("3.2")) == 5
    assert charts.nice_ceiling(Decimal("0.0042")) == Decimal("0.005")
    assert charts.nice_ceiling(1800) == 2000
    assert charts.nice_ceiling(0) == 1
    assert charts.format_axis(Decimal(12500), "tokens") == "12.5k"
    assert charts.format_axis(Decimal("2.5"), "usd") == "$2.5"
    assert charts.format_value(1234567, "tokens") == "1,234,567"


def test_days_without_usage_are_zero_and_in_order():
    start, end, days = usage_figures.window(3, date(2026, 12, 4))
    assert start == datetime(2026, 12, 2, tzinfo=UTC) and end == datetime(2026, 12, 5, tzinfo=UTC)
    groups = [{"day": "2026-12-03", "cost_usd": "0.25", "input_tokens": 10, "output_tokens": 5}]
    spend = usage_figures.daily_points(groups, days, "cost")
    assert [p.value for p in spend] == [0, Decimal("0.25"), 0]
    assert [p.value for p in usage_figures.daily_points(groups, days, "tokens")] == [0, 15, 0]
    assert spend[1].label == "Dec 3" and spend[1].long_label == "2026-12-03"


def test_categories_are_ranked_and_the_tail_folded_into_other():
    groups = [{"model": f"m{n}", "cost_usd": str(n)} for n in range(1, 6)]
    groups.append({"model": None, "cost_usd": "0"})
    points = usage_figures.category_points(groups, "model", "cost", top=3)
    assert [p.label for p in points] == ["m5", "m4", "m3", "other (3)"]
    assert points[-1].value == Decimal(3)


def test_the_daily_limit_is_the_workspace_day_budget():
    budgets = [{"scope": "workspace", "period": "month", "hard_limit_usd": "100"},
               {"scope": "bot", "period": "day", "hard_limit_usd": "1"},
               {"scope": "workspace", "period": "day", "hard_limit_usd": None,
                "soft_limit_usd": "2.5"}]
    assert usage_figures.daily_limit(budgets) == Limit(Decimal("2.5"), "Daily soft limit")
    assert usage_figures.daily_limit(budgets[:2]) is None


def test_gauges_say_how_much_of_each_budget_is_spent():
    budgets = [{"scope": "workspace", "scope_id": None, "period": "month",
                "hard_limit_usd": "10", "soft_limit_usd": "5", "spent_usd": "6",
                "reserved_usd": "0", "resets_at": None},
               {"scope": "api_key", "scope_id": "1234abcd-0000", "period": "day",
                "hard_limit_usd": "1", "soft_limit_usd": None, "spent_usd": "1",
                "reserved_usd": "0.5", "resets_at": None}]
    month, key = usage_figures.gauges(budgets, {"1234abcd-0000": "ci"})
    assert (month.name, month.state, month.percent) == ("Workspace, per month", "warning", 60)
    assert (key.name, key.state, key.percent) == ("api key ci, per day", "over", 100)


def test_run_figures():
    execution = {"status": "running", "queued_at": datetime(2026, 1, 1, 0, 0, 0, tzinfo=UTC),
                 "started_at": datetime(2026, 1, 1, 0, 0, 2, tzinfo=UTC),
                 "duration_seconds": 125.0, "cpu_seconds": 0.4321,
                 "peak_memory_bytes": 25 * 1024 * 1024}
    assert run_figures.is_live(execution)
    assert dict(run_figures.figures(execution)) == {
        "Waited in the queue": "2.00 s", "Ran for": "2 min 05 s", "CPU time": "0.43 s",
        "Peak memory": "25.0 MiB"}
    assert run_figures.format_bytes(None) == "—"
    assert run_figures.status_word("timed_out") == "Timed out"
