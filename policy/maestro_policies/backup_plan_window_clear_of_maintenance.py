"""backup-plan-window-clear-of-maintenance: every scheduled backup rule can start outside the hour before
and during each database's maintenance window (runbook 1.1).

AWS Backup does not start a database backup one hour before or during the instance's maintenance
window; a job still waiting when its start window ends is EXPIRED
(https://docs.aws.amazon.com/aws-backup/latest/devguide/plan-options-and-configuration.html). A weekly
rule whose whole start window falls there never runs. Times are compared per minute of the week, in
UTC (maintenance windows are UTC; a rule's timezone is applied at both its winter and summer offset).
Continuous (PITR) rules are exempt: their log capture is not a job that has to start.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from maestro_policies._base import BACKUP_PLAN, RDS_INSTANCE, as_list, get, of_type, stack_rule

WEEK = 7 * 24 * 60
BLOCKED_BEFORE_MINUTES = 60
DAYS = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")  # AWS cron: 1 = SUN


def _days(field: str) -> list[int] | None:
    if field in ("?", "*"):
        return list(range(7))
    days: list[int] = []
    for part in field.upper().split(","):
        ends = [DAYS.index(p) if p in DAYS else int(p) - 1 if p.isdigit() else -1 for p in part.split("-")]
        if any(e < 0 or e > 6 for e in ends):
            return None
        days.extend(range(ends[0], ends[-1] + 1) if len(ends) == 2 else ends)
    return days


def rule_starts(schedule: str, window_minutes: int, timezone: str) -> list[tuple[int, int]] | None:
    """(start, end) minutes of the UTC week during which the rule may start; None if not judgeable."""
    fields = schedule[5:-1].split() if schedule.startswith("cron(") else []
    if len(fields) != 6 or not fields[0].isdigit() or not fields[1].isdigit():
        return None  # rate() or an hourly/complex cron: not a once-a-day start to place
    days = _days(fields[4])
    try:
        zone = ZoneInfo(timezone or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return None
    if days is None:
        return None
    local = int(fields[1]) * 60 + int(fields[0])
    offsets = {
        int((zone.utcoffset(datetime(2025, month, 15)) or timedelta(0)).total_seconds() // 60)
        for month in (1, 7)
    }
    return [
        ((day * 1440 + local - offset) % WEEK, (day * 1440 + local - offset + window_minutes) % WEEK)
        for day in days
        for offset in offsets
    ]


def blocked(window: str) -> tuple[int, int] | None:
    """The maintenance window ``ddd:hh:mm-ddd:hh:mm`` (UTC) widened by the hour before it."""
    try:
        start, end = (
            DAYS.index(p[:3].upper()) * 1440 + int(p[4:6]) * 60 + int(p[7:9]) for p in window.split("-")
        )
    except (ValueError, IndexError):
        return None
    return (start - BLOCKED_BEFORE_MINUTES) % WEEK, end % WEEK


def _inside(point: int, span: tuple[int, int]) -> bool:
    start, end = span
    return start <= point < end if start <= end else point >= start or point < end


def overlaps(a: tuple[int, int], b: tuple[int, int]) -> bool:
    return _inside(a[0], b) or _inside(b[0], a)


def validate(args, report_violation) -> None:  # type: ignore[no-untyped-def]
    resources = list(args.resources)
    windows = {
        db.name: span
        for db in of_type(resources, RDS_INSTANCE)
        if (span := blocked(str(get(db.props, "maintenanceWindow", default="")))) is not None
    }
    for plan in of_type(resources, BACKUP_PLAN):
        for rule in as_list(get(plan.props, "rules")):
            if get(rule, "enableContinuousBackup"):
                continue
            starts = rule_starts(
                str(get(rule, "schedule", default="")),
                int(get(rule, "startWindow", default=60)),
                str(get(rule, "scheduleExpressionTimezone", default="UTC")),
            )
            for db, span in sorted(windows.items()):
                if starts and any(overlaps(s, span) for s in starts):
                    report_violation(
                        f"plan `{plan.name}` rule `{get(rule, 'ruleName')}` ({get(rule, 'schedule')}, start "
                        f"window {get(rule, 'startWindow', default=60)} min) can fall in the hour before or "
                        f"during `{db}`'s maintenance window: AWS Backup starts no database backup then and "
                        "the job expires; move the rule or the maintenance window",
                        plan.urn,
                    )


RULE = stack_rule(
    "backup-plan-window-clear-of-maintenance",
    "backup rules start outside the hour before and during each database's maintenance window",
    "1.1",
    (),
    (BACKUP_PLAN,),
    validate,
)
