"""What the bucket rules share: a loop over buckets that reports per bucket."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from pulumi_policy import PolicyResource

from maestro_policies._base import BUCKET, of_type, tags


def buckets(resources: Iterable[PolicyResource], purpose: str | None = None) -> list[PolicyResource]:
    found = of_type(resources, BUCKET)
    return [b for b in found if purpose is None or tags(b.props).get("maestro:purpose") == purpose]


def each_bucket(
    args,
    report_violation,
    check: Callable[[list[PolicyResource], PolicyResource], str | None],  # type: ignore[no-untyped-def]
    purpose: str | None = None,
) -> None:
    resources = list(args.resources)
    for bucket in buckets(resources, purpose):
        problem = check(resources, bucket)
        if problem:
            report_violation(problem, bucket.urn)
