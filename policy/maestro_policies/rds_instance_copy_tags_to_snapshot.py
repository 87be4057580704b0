"""rds-instance-copy-tags-to-snapshot: snapshots carry the tags backup selection and drills rely on."""

from __future__ import annotations

from maestro_policies._base import RDS_INSTANCE, get, label, resource_rule


def validate(args, report_violation) -> None:  # type: ignore[no-untyped-def]
    if (
        args.resource_type == RDS_INSTANCE
        and get(args.props, "copyTagsToSnapshot", default=False) is not True
    ):
        report_violation(
            f"{label(args)} does not copy tags to snapshots (set copy_tags_to_snapshot=True)", None
        )


RULE = resource_rule(
    "rds-instance-copy-tags-to-snapshot",
    "RDS snapshots inherit the instance tags",
    "1.1",
    ("RDS.17", "CKV2_AWS_60"),
    (RDS_INSTANCE,),
    validate,
)
