"""backup-vault-lock-retention: every rule and copy action that stores recovery points in a locked vault
keeps them within the lock's minimum and maximum retention (runbook 1.1).

AWS Backup checks a vault lock when a job stores a recovery point: a rule (or a copy action targeting the
vault) that keeps points less than the lock's minimum, longer than its maximum, or forever while the lock
has a maximum makes every one of its jobs fail, so the backups the runbook counts on never exist."""

from __future__ import annotations

from maestro_policies._backup import FOREVER, kept_days, rules_of
from maestro_policies._base import (
    BACKUP_PLAN,
    BACKUP_VAULT,
    VAULT_LOCK,
    as_list,
    days,
    get,
    label,
    number,
    of_type,
    refers,
    stack_rule,
)


def _stores(resources, vault):  # type: ignore[no-untyped-def]
    """(where, lifecycle) for each plan rule and copy action whose recovery points land in ``vault``."""
    name, arn = get(vault.props, "name"), get(vault.props, "arn")
    for plan in of_type(resources, BACKUP_PLAN):
        for rule in rules_of(plan):
            rule_name = get(rule, "ruleName", default="?")
            if name is not None and get(rule, "targetVaultName") == name:
                yield f"plan `{plan.name}` rule `{rule_name}`", get(rule, "lifecycle")
            for copy in as_list(get(rule, "copyActions")):
                if arn is not None and get(copy, "destinationVaultArn") == arn:
                    yield f"plan `{plan.name}` rule `{rule_name}` copy action", get(copy, "lifecycle")


def _problem(lifecycle, low, high) -> str | None:  # type: ignore[no-untyped-def]
    keep = kept_days(lifecycle)
    if keep is None:
        return f"keeps recovery points {days(get(lifecycle, 'deleteAfter'))}"
    if low is not None and keep < low:
        return f"keeps recovery points {days(keep)}, less than the lock's minimum of {days(low)}"
    if high is not None and keep > high:
        kept = "forever" if keep == FOREVER else days(keep)
        return f"keeps recovery points {kept}, more than the lock's maximum of {days(high)}"
    return None


def validate(args, report_violation) -> None:  # type: ignore[no-untyped-def]
    resources = list(args.resources)
    for lock in of_type(resources, VAULT_LOCK):
        vaults = [v for v in of_type(resources, BACKUP_VAULT) if refers(lock, v, "backupVaultName", "name")]
        low, high = number(get(lock.props, "minRetentionDays")), number(get(lock.props, "maxRetentionDays"))
        for vault in vaults:
            for where, lifecycle in _stores(resources, vault):
                problem = _problem(lifecycle, low, high)
                if problem:
                    report_violation(
                        f"{label(vault)} is locked, but {where} {problem}: AWS Backup fails every "
                        "such job (align lifecycle.delete_after with the vault lock)",
                        lock.urn,
                    )


RULE = stack_rule(
    "backup-vault-lock-retention",
    "rules and copies into a locked vault keep points within the lock's min and max retention",
    "1.1",
    (),
    (VAULT_LOCK,),
    validate,
)
