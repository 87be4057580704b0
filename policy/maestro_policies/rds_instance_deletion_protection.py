"""rds-instance-deletion-protection: prod databases cannot be deleted by accident (nothing lost).

Prod-only: decided by the stack (its environment or name), not by a resource tag."""

from __future__ import annotations

from maestro_policies._base import RDS_INSTANCE, get, label, resource_rule


def validate(args, report_violation) -> None:  # type: ignore[no-untyped-def]
    if args.resource_type != RDS_INSTANCE:
        return
    if get(args.props, "deletionProtection", default=False) is not True:
        report_violation(
            f"{label(args)} has no deletion protection in prod (set deletion_protection=True)", None
        )


RULE = resource_rule(
    "rds-instance-deletion-protection",
    "prod RDS instances have deletion protection",
    "1.1",
    ("RDS.8", "CKV_AWS_293"),
    (RDS_INSTANCE,),
    validate,
    prod_only=True,
    suppressible=False,
)
