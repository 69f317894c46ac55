"""A budget row's period in SQL: its spend belongs to the UTC day or month starting
``period_start``, its reservations to no period (budgets.py, records.py)."""

from __future__ import annotations

START = "(date_trunc({0}period, now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC')"
# A row's spend (and its ``notified``) belongs to the period starting ``period_start``: it
# counts while that period is current, and rolls over to 0 with the first reservation or
# settlement after it. A transaction whose ``now()`` comes before another's that rolled the
# row over (it began first) must not roll it back: the row's period is the later of the two.
# Its reservations belong to no period: they are the calls in flight, each settled once to
# the period current when it ends (its record, or the sweep: records.py), so a call that
# spans a period's end is charged to the new period, and counts against it from the start.
ROLLED = f"{{0}}period_start IS DISTINCT FROM GREATEST({{0}}period_start, {START})"
_PERIOD = f"GREATEST({{0}}period_start, {START})"


def current(column: str, row: str = "") -> str:
    """SQL: the row's ``column`` in its current period (0 or false once it rolled over)."""
    reset = "false" if column == "notified" else "0"
    return f"CASE WHEN {ROLLED.format(row)} THEN {reset} ELSE {row}{column} END"


def period_of(row: str = "") -> str:
    """SQL: the start of the row's current period (see :data:`ROLLED`)."""
    return _PERIOD.format(row)
