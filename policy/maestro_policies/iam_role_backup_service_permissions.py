"""iam-role-backup-service-permissions: the role every backup selection and restore-testing selection
runs as can be assumed by AWS Backup and holds the backup and restore permissions (runbook 1.1, 2).

AWS Backup starts each job as the selection's role: a role that does not trust backup.amazonaws.com, or
lacks the backup (or, for restore testing, the restore) permissions, fails every job it is given."""

from __future__ import annotations

from maestro_policies._base import BACKUP_SELECTION, get, label, of_type, policy_statements, stack_rule
from maestro_policies._iam import allows, managed_policies, role_for, role_statements
from maestro_policies._wiring import RESTORE_TESTING_SELECTION

BACKUP_POLICY = "arn:aws:iam::aws:policy/service-role/AWSBackupServiceRolePolicyForBackup"
RESTORE_POLICY = "arn:aws:iam::aws:policy/service-role/AWSBackupServiceRolePolicyForRestores"
# What an inline policy must allow instead of the managed policy (the RDS actions a job runs).
NEEDS = {
    BACKUP_POLICY: ("rds:CreateDBSnapshot", "rds:AddTagsToResource"),
    RESTORE_POLICY: ("rds:RestoreDBInstanceFromDBSnapshot", "rds:RestoreDBInstanceToPointInTime"),
}


def _users(resources):  # type: ignore[no-untyped-def]
    """(selection, role or None, managed policy it needs) for every selection in the stack."""
    for token, needed in ((BACKUP_SELECTION, BACKUP_POLICY), (RESTORE_TESTING_SELECTION, RESTORE_POLICY)):
        for selection in of_type(resources, token):
            yield selection, role_for(resources, selection, "iamRoleArn"), needed


def _roles(resources):  # type: ignore[no-untyped-def]
    return list({role.urn: role for _, role, _ in _users(resources) if role is not None}.values())


def _trusts_backup(role) -> bool:  # type: ignore[no-untyped-def]
    return any(
        s.get("Effect") == "Allow"
        and "backup.amazonaws.com" in str(get(s, "Principal", "Service", default=""))
        and allows([s], "sts:AssumeRole", "*")
        for s in policy_statements(get(role.props, "assumeRolePolicy"))
    )


def validate(args, report_violation) -> None:  # type: ignore[no-untyped-def]
    resources = list(args.resources)
    for selection, role, needed in _users(resources):
        if role is None:
            report_violation(
                f"{label(selection)} runs as {get(selection.props, 'iamRoleArn')!r}, a role the stack does "
                "not declare; declare it here so its trust and permissions are checked (runbook 1.1)",
                selection.urn,
            )
            continue
        if not _trusts_backup(role):
            report_violation(
                f"role `{role.name}` of {label(selection)} does not trust backup.amazonaws.com; AWS Backup "
                "cannot assume it, so every job fails",
                role.urn,
            )
        statements = role_statements(resources, role)
        if needed not in managed_policies(resources, role) and not all(
            allows(statements, action, "*") for action in NEEDS[needed]
        ):
            report_violation(
                f"role `{role.name}` of {label(selection)} lacks {needed.rsplit('/', 1)[-1]} (or the "
                f"{', '.join(NEEDS[needed])} it grants); its jobs fail (runbook 1.1, 2)",
                role.urn,
            )


RULE = stack_rule(
    "iam-role-backup-service-permissions",
    "backup and restore-testing selections run as a role AWS Backup can assume, with its permissions",
    "1.1",
    (),
    (BACKUP_SELECTION, RESTORE_TESTING_SELECTION),
    validate,
    subjects=_roles,
)
