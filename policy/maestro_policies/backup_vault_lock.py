"""backup-vault-lock: prod vaults carry a compliance-mode vault lock (runbook 1.1, nothing lost).

Prod-only: decided by the stack (its environment or name), not by a resource tag."""

from __future__ import annotations

from maestro_policies._base import BACKUP_VAULT, VAULT_LOCK, get, label, number, of_type, refers, stack_rule


def validate(args, report_violation) -> None:  # type: ignore[no-untyped-def]
    locks = of_type(args.resources, VAULT_LOCK)
    for vault in of_type(args.resources, BACKUP_VAULT):
        mine = [lock for lock in locks if refers(lock, vault, "backupVaultName", "name")]
        if not mine:
            report_violation(
                f"{label(vault)} has no vault lock in prod; add a VaultLockConfiguration in "
                "compliance mode (changeable_for_days)",
                vault.urn,
            )
        elif not any(number(get(lock.props, "changeableForDays")) for lock in mine):
            report_violation(
                f"{label(vault)} lock is governance mode in prod; set changeable_for_days so it "
                "becomes compliance mode",
                vault.urn,
            )


RULE = stack_rule(
    "backup-vault-lock",
    "prod AWS Backup vaults are locked in compliance mode",
    "1.1",
    ("Backup.3",),
    (BACKUP_VAULT,),
    validate,
    prod_only=True,
    suppressible=False,
)
