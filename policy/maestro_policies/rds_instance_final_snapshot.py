"""rds-instance-final-snapshot: deleting a database keeps a final snapshot and its automated backups."""

from __future__ import annotations

from maestro_policies._base import RDS_INSTANCE, get, label, resource_rule


def validate(args, report_violation) -> None:  # type: ignore[no-untyped-def]
    if args.resource_type != RDS_INSTANCE:
        return
    if get(args.props, "skipFinalSnapshot", default=False) or not get(args.props, "finalSnapshotIdentifier"):
        report_violation(
            f"{label(args)} skips its final snapshot (set skip_final_snapshot=False and "
            "final_snapshot_identifier)",
            None,
        )
    if get(args.props, "deleteAutomatedBackups", default=True):
        report_violation(
            f"{label(args)} deletes automated backups with the instance (set delete_automated_backups=False)",
            None,
        )


RULE = resource_rule(
    "rds-instance-final-snapshot",
    "RDS deletion keeps a final snapshot and automated backups",
    "1.1",
    (),
    (RDS_INSTANCE,),
    validate,
)
