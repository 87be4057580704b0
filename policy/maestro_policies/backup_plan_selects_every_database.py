"""backup-plan-selects-every-database: every database is selected into a plan that has both the daily
and the weekly rule (runbook 1.1).

A selection feeds exactly one plan; a database picked only by the continuous (PITR) plan, or by a plan
that lost its weekly rule, is not protected as the runbook requires even though it is "selected"."""

from __future__ import annotations

from maestro_policies._backup import kind_of, plan_of, rules_of, selects
from maestro_policies._base import BACKUP_SELECTION, RDS_INSTANCE, label, of_type, stack_rule

NEEDED = ("daily", "weekly")  # runbook 1.1: daily snapshots and weekly basebackups


def validate(args, report_violation) -> None:  # type: ignore[no-untyped-def]
    resources = list(args.resources)
    selections = of_type(resources, BACKUP_SELECTION)
    for db in of_type(resources, RDS_INSTANCE):
        mine = [s for s in selections if selects(s, db)]
        if not mine:
            report_violation(
                f"{label(db)} is not selected by any AWS Backup selection; tag it "
                "maestro:backup=true or add its ARN to a selection (runbook 1.1)",
                db.urn,
            )
            continue
        plans = [p for p in (plan_of(resources, s) for s in mine) if p is not None]
        kinds = {kind_of(rule) for plan in plans for rule in rules_of(plan)}
        missing = [k for k in NEEDED if k not in kinds]
        if missing:
            fed = ", ".join(f"`{p.name}`" for p in plans) or "no plan in the stack"
            report_violation(
                f"{label(db)} is selected into {fed}, which has no {' and no '.join(missing)} rule; "
                "select it into the plan with the daily and weekly rules (runbook 1.1)",
                db.urn,
            )


RULE = stack_rule(
    "backup-plan-selects-every-database",
    "every RDS instance is selected into a plan with daily and weekly rules",
    "1.1",
    ("Backup.2",),
    (RDS_INSTANCE,),
    validate,
)
