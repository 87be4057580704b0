"""AWS Backup as the service evaluates it: which resources a selection picks, which plan it feeds, what
kind of schedule each plan rule has and which vaults its recovery points (and copies) land in."""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping, Sequence
from typing import Any

from pulumi_policy import PolicyResource

from maestro_policies._base import BACKUP_PLAN, as_list, cron_kind, get, number, of_type, refers, tags

FOREVER = float("inf")  # a rule without lifecycle.delete_after keeps its recovery points forever


def selects(selection: PolicyResource, resource: PolicyResource) -> bool:
    """Whether ``selection`` picks ``resource``: by tag (STRINGEQUALS) or by ARN (wildcards allowed),
    minus its notResources."""
    arn = get(resource.props, "arn")
    resource_tags = tags(resource.props)
    by_tag = any(
        get(t, "type", default="STRINGEQUALS") == "STRINGEQUALS"
        and isinstance(get(t, "key"), str)
        and resource_tags.get(get(t, "key")) == get(t, "value")
        for t in as_list(get(selection.props, "selectionTags"))
    )
    by_arn = isinstance(arn, str) and any(
        fnmatch.fnmatchcase(arn, str(p)) for p in as_list(get(selection.props, "resources"))
    )
    excluded = isinstance(arn, str) and any(
        fnmatch.fnmatchcase(arn, str(p)) for p in as_list(get(selection.props, "notResources"))
    )
    return (by_tag or by_arn) and not excluded


def plan_of(resources: Sequence[PolicyResource], selection: PolicyResource) -> PolicyResource | None:
    """The plan a selection feeds (its plan_id), by property dependency or id."""
    for plan in of_type(resources, BACKUP_PLAN):
        if refers(selection, plan, "planId", "id"):
            return plan
    return None


def rules_of(plan: PolicyResource) -> list[Mapping[str, Any]]:
    return [r for r in as_list(get(plan.props, "rules")) if isinstance(r, Mapping)]


def kind_of(rule: Mapping[str, Any]) -> str:
    """continuous, daily, weekly, monthly, hourly or other."""
    if get(rule, "enableContinuousBackup", default=False) is True:
        return "continuous"
    schedule = get(rule, "schedule", default="")
    return cron_kind(schedule) if isinstance(schedule, str) else "other"


def kept_days(lifecycle: Any) -> float | None:
    """How long a lifecycle keeps recovery points: FOREVER without delete_after, None when unreadable."""
    value = get(lifecycle, "deleteAfter")
    if value is None:
        return FOREVER
    return number(value)
