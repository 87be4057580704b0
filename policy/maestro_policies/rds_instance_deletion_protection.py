"""rds-instance-deletion-protection: prod databases cannot be deleted by accident (nothing lost)."""

from __future__ import annotations

from maestro_policies._base import RDS_INSTANCE, get, is_prod, label, resource_rule


def validate(args, report_violation) -> None:  # type: ignore[no-untyped-def]
    if args.resource_type != RDS_INSTANCE or not is_prod(args.props):
        return
    if not get(args.props, "deletionProtection", default=False):
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
)
