"""backup-vault-notification-events: every vault notifies its region's topic, with supported events only,
including CONTINUOUS_BACKUP_INTERRUPTED where PITR runs (runbook 1.1, 4).

BACKUP_JOB_FAILED, RESTORE_JOB_FAILED and the other deprecated events "do not return statuses or
notifications" (https://docs.aws.amazon.com/aws-backup/latest/devguide/API_PutBackupVaultNotifications.html):
listing them looks like alerting and alerts no one.
"""

from __future__ import annotations

from maestro_policies._base import (
    BACKUP_PLAN,
    BACKUP_VAULT,
    VAULT_NOTIFICATIONS,
    as_list,
    get,
    of_type,
    refers,
    stack_rule,
)

DEPRECATED = (
    "BACKUP_JOB_SUCCESSFUL",
    "BACKUP_JOB_FAILED",
    "BACKUP_JOB_EXPIRED",
    "RESTORE_JOB_SUCCESSFUL",
    "RESTORE_JOB_FAILED",
)
PITR_EVENT = "CONTINUOUS_BACKUP_INTERRUPTED"


def validate(args, report_violation) -> None:  # type: ignore[no-untyped-def]
    resources = list(args.resources)
    pitr = any(
        get(rule, "enableContinuousBackup")
        for plan in of_type(resources, BACKUP_PLAN)
        for rule in as_list(get(plan.props, "rules"))
    )
    for vault in of_type(resources, BACKUP_VAULT):
        notifications = [
            n for n in of_type(resources, VAULT_NOTIFICATIONS) if refers(n, vault, "backupVaultName", "name")
        ]
        if not notifications:
            report_violation(
                f"vault `{vault.name}` notifies no one; add VaultNotifications to a topic in its region",
                vault.urn,
            )
            continue
        events = {str(e) for n in notifications for e in as_list(get(n.props, "backupVaultEvents"))}
        stale = sorted(events & set(DEPRECATED))
        if stale:
            report_violation(
                f"vault `{vault.name}` subscribes deprecated events {', '.join(stale)}, which never notify; "
                "failed jobs reach people through the EventBridge rule",
                vault.urn,
            )
        if pitr and PITR_EVENT not in events:
            report_violation(
                f"vault `{vault.name}` does not notify {PITR_EVENT}: a stopped PITR stream goes unnoticed",
                vault.urn,
            )


RULE = stack_rule(
    "backup-vault-notification-events",
    "every vault notifies supported events, including interrupted continuous backup",
    "4",
    (),
    (BACKUP_VAULT,),
    validate,
)
