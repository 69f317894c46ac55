"""The usage page's figures: the ledger report and the budgets (as the API returns them) turned
into chart points, a daily limit and budget gauges. Pure: no request, no database."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from codex32.console.charts import Limit, Point

METRICS = ("cost", "tokens")
WINDOWS = (7, 30, 90)
TOP_CATEGORIES = 8


def window(days: int, today: date) -> tuple[datetime, datetime, list[date]]:
    """The report's ``from`` and ``to`` (UTC midnights) for the last ``days`` days up to and
    including ``today``, and those days in order."""
    first = today - timedelta(days=days - 1)
    start = datetime(first.year, first.month, first.day, tzinfo=UTC)
    return start, start + timedelta(days=days), [first + timedelta(days=n) for n in range(days)]


def measure(group: Mapping[str, Any], metric: str) -> Decimal | int:
    """A report group's cost in USD (exact) or its tokens (input and output)."""
    if metric == "cost":
        return Decimal(group.get("cost_usd") or 0)
    return int(group.get("input_tokens") or 0) + int(group.get("output_tokens") or 0)


def daily_points(groups: Iterable[Mapping[str, Any]], days: Sequence[date],
                 metric: str) -> list[Point]:
    """A point per day of ``days`` (zero when the ledger has none), from a report grouped by
    day."""
    by_day = {str(group["day"]): measure(group, metric) for group in groups}
    zero: Decimal | int = Decimal(0) if metric == "cost" else 0
    return [Point(label=f"{day:%b} {day.day}", value=by_day.get(day.isoformat(), zero),
                  long_label=day.isoformat()) for day in days]


def category_points(groups: Iterable[Mapping[str, Any]], key: str, metric: str,
                    top: int = TOP_CATEGORIES) -> list[Point]:
    """A point per value of ``key`` (model, purpose), largest first; past ``top`` the rest
    add up to one "other" point. A missing value (a failed call with no model) is "none"."""
    totals: dict[str, Decimal | int] = {}
    for group in groups:
        name = str(group.get(key) or "none")
        totals[name] = totals.get(name, 0) + measure(group, metric)
    ranked = sorted(totals.items(), key=lambda item: (-item[1], item[0]))
    points = [Point(label=name, value=value) for name, value in ranked[:top]]
    rest = ranked[top:]
    if rest:
        points.append(Point(label=f"other ({len(rest)})",
                            value=sum((value for _, value in rest), Decimal(0) if metric == "cost"
                                      else 0)))
    return points


def _amount(text: str | None) -> Decimal | None:
    return None if text is None else Decimal(text)


def daily_limit(budgets: Iterable[Mapping[str, Any]]) -> Limit | None:
    """The workspace's daily budget as a line across the daily spend: its hard limit, else
    its soft one; None when it has no daily budget."""
    for budget in budgets:
        if budget["scope"] == "workspace" and budget["period"] == "day":
            hard = _amount(budget.get("hard_limit_usd"))
            soft = _amount(budget.get("soft_limit_usd"))
            if hard is not None:
                return Limit(hard, "Daily hard limit")
            if soft is not None:
                return Limit(soft, "Daily soft limit")
    return None


@dataclass(frozen=True)
class Gauge:
    """A budget's current period: how much of its limit is spent, in words and as a share."""

    name: str
    spent: Decimal
    limit: Decimal | None
    kind: str  # "hard" or "soft": which limit ``limit`` is
    state: str  # "ok", "warning" (past the soft limit) or "over" (at the hard limit)
    resets_at: datetime | None

    @property
    def percent(self) -> int:
        """Spent as a whole percentage of the limit, capped at 100 (for the bar's length)."""
        if not self.limit:
            return 100 if self.spent else 0
        return min(100, int(self.spent * 100 / self.limit))


def gauges(budgets: Iterable[Mapping[str, Any]], names: Mapping[str, str] | None = None
           ) -> list[Gauge]:
    """A gauge per budget, named by scope and period (``names`` maps an API key's or a bot's
    id to its name)."""
    found = []
    for budget in budgets:
        spent = Decimal(budget.get("spent_usd") or 0) + Decimal(budget.get("reserved_usd") or 0)
        hard, soft = _amount(budget.get("hard_limit_usd")), _amount(budget.get("soft_limit_usd"))
        state = ("over" if hard is not None and spent >= hard
                 else "warning" if soft is not None and spent >= soft else "ok")
        scope_id = budget.get("scope_id")
        owner = ("Workspace" if scope_id is None
                 else f"{budget['scope'].replace('_', ' ')} "
                      f"{(names or {}).get(str(scope_id), str(scope_id)[:8])}")
        found.append(Gauge(name=f"{owner}, per {budget['period']}", spent=spent,
                           limit=hard if hard is not None else soft,
                           kind="hard" if hard is not None else "soft", state=state,
                           resets_at=budget.get("resets_at")))
    return found
