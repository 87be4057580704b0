"""S3 lifecycle as S3 evaluates it: a bucket has one lifecycle configuration, every enabled rule whose
filter reaches an object applies to it, the earliest expiration (or transition) wins, and a disabled rule
counts for nothing."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pulumi_policy import PolicyResource

from maestro_policies._base import LIFECYCLE, as_list, get, number, settings_of


def rule_prefix(rule: Mapping[str, Any]) -> str:
    """The key prefix a rule filters on ('' for the whole bucket)."""
    for path in (("filter", "prefix"), ("filter", "and", "prefix"), ("prefix",)):
        value = get(rule, *path)
        if isinstance(value, str):
            return value
    return ""


def reaches(rule: Mapping[str, Any], prefix: str) -> bool:
    """Whether an enabled rule applies to some object under ``prefix``."""
    mine = rule_prefix(rule)
    return get(rule, "status") == "Enabled" and (prefix.startswith(mine) or mine.startswith(prefix))


def configurations(resources: Sequence[PolicyResource], bucket: PolicyResource) -> list[PolicyResource]:
    return settings_of(resources, bucket, LIFECYCLE)


def rules_reaching(resources: Sequence[PolicyResource], bucket: PolicyResource, prefix: str) -> list[Any]:
    return [
        r
        for lc in configurations(resources, bucket)
        for r in as_list(get(lc.props, "rules"))
        if isinstance(r, Mapping) and reaches(r, prefix)
    ]


def earliest(rules: Sequence[Mapping[str, Any]], *path: str) -> tuple[float, str] | None:
    """(days, rule id) of the smallest number at ``path`` among ``rules``, or None."""
    found = [(d, str(get(r, "id", default="?"))) for r in rules if (d := number(get(r, *path))) is not None]
    return min(found) if found else None


def earliest_transitions(rules: Sequence[Mapping[str, Any]], key: str = "transitions") -> dict[str, float]:
    """Storage class -> the earliest day any of ``rules`` moves objects there."""
    found: dict[str, float] = {}
    for rule in rules:
        for transition in as_list(get(rule, key)):
            cls, day = get(transition, "storageClass"), number(get(transition, "days"))
            if isinstance(cls, str) and day is not None:
                found[cls] = min(day, found.get(cls, day))
    return found
