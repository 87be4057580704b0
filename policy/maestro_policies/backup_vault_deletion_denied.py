"""backup-vault-deletion-denied: every vault's access policy denies deleting recovery points to everyone
but the recovery-point administrators (runbook 1.1, 4).

The Backup Audit Manager control BACKUP_RECOVERY_POINT_MANUAL_DELETION_DISABLED is NON_COMPLIANT unless
the vault has a Deny statement with backup:DeleteRecoveryPoint, backup:UpdateRecoveryPointLifecycle
and backup:PutBackupVaultAccessPolicy, "Resource" and "Principal" "*"
(https://docs.aws.amazon.com/config/latest/developerguide/backup-recovery-point-manual-deletion-disabled.html).
"""

from __future__ import annotations

from maestro_policies._base import BACKUP_VAULT, as_list, get, of_type, policy_statements, refers, stack_rule
from maestro_policies._wiring import VAULT_POLICY

REQUIRED = (
    "backup:DeleteRecoveryPoint",
    "backup:UpdateRecoveryPointLifecycle",
    "backup:PutBackupVaultAccessPolicy",
)


def _denies(document) -> set[str]:  # type: ignore[no-untyped-def]
    denied: set[str] = set()
    for s in policy_statements(document):
        if (
            s.get("Effect") == "Deny"
            and s.get("Principal") in ("*", {"AWS": "*"})
            and s.get("Resource") == "*"
        ):
            denied |= {str(a) for a in as_list(s.get("Action"))}
    return denied


def validate(args, report_violation) -> None:  # type: ignore[no-untyped-def]
    resources = list(args.resources)
    for vault in of_type(resources, BACKUP_VAULT):
        policies = [
            p for p in of_type(resources, VAULT_POLICY) if refers(p, vault, "backupVaultName", "name")
        ]
        if not policies:
            report_violation(
                f"vault `{vault.name}` has no access policy: recovery points can be deleted by hand and "
                "BACKUP_RECOVERY_POINT_MANUAL_DELETION_DISABLED is non-compliant; deny "
                f'{", ".join(REQUIRED)} to Principal "*"',
                vault.urn,
            )
            continue
        denied = _denies(get(policies[0].props, "policy"))
        missing = [a for a in REQUIRED if a not in denied]
        if missing:
            report_violation(
                f"vault `{vault.name}`'s access policy does not deny {', '.join(missing)} to Principal and "
                'Resource "*" (the control looks for all three)',
                vault.urn,
            )


RULE = stack_rule(
    "backup-vault-deletion-denied",
    "every vault denies manual deletion of recovery points to all but the administrators",
    "1.1",
    ("BACKUP_RECOVERY_POINT_MANUAL_DELETION_DISABLED",),
    (BACKUP_VAULT,),
    validate,
)
