"""s3-bucket-config-restricted: only named roles reach the config-backup bucket's objects (runbook 1.3)."""

from __future__ import annotations

from maestro_policies._base import (
    BUCKET,
    BUCKET_POLICY,
    as_list,
    get,
    label,
    policy_statements,
    settings_of,
    stack_rule,
)
from maestro_policies._buckets import buckets


def _restricts(statement) -> bool:  # type: ignore[no-untyped-def]
    if statement.get("Effect") != "Deny" or statement.get("Principal") not in ("*", {"AWS": "*"}):
        return False
    allowed = get(
        statement,
        "Condition",
        "ArnNotLike",
        "aws:PrincipalArn",
        default=get(statement, "Condition", "ArnNotEquals", "aws:PrincipalArn"),
    )
    actions = " ".join(str(a) for a in as_list(statement.get("Action")))
    return (
        bool(as_list(allowed))
        and "*" not in as_list(allowed)
        and ("GetObject" in actions or "s3:*" in actions)
    )


def validate(args, report_violation) -> None:  # type: ignore[no-untyped-def]
    resources = list(args.resources)
    config_buckets = buckets(resources, "config")
    if not config_buckets:
        report_violation(
            "no config-backup bucket (tag maestro:purpose=config) in the stack (runbook 1.3)", None
        )
    for bucket in config_buckets:
        statements = [
            s
            for p in settings_of(resources, bucket, BUCKET_POLICY)
            for s in policy_statements(get(p.props, "policy"))
        ]
        if not any(_restricts(s) for s in statements):
            report_violation(
                f"{label(bucket)} policy does not deny object access to every principal but the "
                "config-backup and break-glass roles (runbook 1.3 restricted access)",
                bucket.urn,
            )


RULE = stack_rule(
    "s3-bucket-config-restricted",
    "config-backup bucket denies all but the backup and break-glass roles",
    "1.3",
    (),
    (BUCKET,),
    validate,
)
