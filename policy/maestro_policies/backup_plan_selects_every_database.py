"""backup-plan-selects-every-database: no database is left out of AWS Backup (runbook 1.1)."""

from __future__ import annotations

from maestro_policies._base import (
    BACKUP_SELECTION,
    RDS_INSTANCE,
    as_list,
    get,
    label,
    of_type,
    stack_rule,
    tags,
)


def validate(args, report_violation) -> None:  # type: ignore[no-untyped-def]
    selections = of_type(args.resources, BACKUP_SELECTION)
    for db in of_type(args.resources, RDS_INSTANCE):
        db_tags, arn = tags(db.props), get(db.props, "arn")
        chosen = False
        for selection in selections:
            by_tag = any(
                get(t, "type", default="STRINGEQUALS") == "STRINGEQUALS"
                and db_tags.get(get(t, "key")) == get(t, "value")
                for t in as_list(get(selection.props, "selectionTags"))
            )
            by_arn = arn is not None and arn in as_list(get(selection.props, "resources"))
            chosen = chosen or by_tag or by_arn
        if not chosen:
            report_violation(
                f"{label(db)} is not selected by any AWS Backup selection; tag it "
                "maestro:backup=true or add its ARN to a selection (runbook 1.1)",
                db.urn,
            )


RULE = stack_rule(
    "backup-plan-selects-every-database",
    "every RDS instance is selected by an AWS Backup plan",
    "1.1",
    ("Backup.2",),
    (RDS_INSTANCE,),
    validate,
)
