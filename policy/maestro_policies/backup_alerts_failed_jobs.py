"""backup-alerts-failed-jobs: a failed backup job reaches people (runbook 4).

Only an EventBridge rule counts: the vault events BACKUP_JOB_FAILED and RESTORE_JOB_FAILED are
deprecated and no longer notify
(https://docs.aws.amazon.com/aws-backup/latest/devguide/API_PutBackupVaultNotifications.html).
"""

from __future__ import annotations

import json

from maestro_policies._base import (
    EVENT_RULE,
    EVENT_TARGET,
    as_list,
    get,
    of_type,
    refers,
    stack_rule,
)


def _watches_failures(rule) -> bool:  # type: ignore[no-untyped-def]
    try:
        pattern = json.loads(get(rule.props, "eventPattern", default="{}"))
    except json.JSONDecodeError:
        return False
    return "aws.backup" in as_list(get(pattern, "source")) and "FAILED" in as_list(
        get(pattern, "detail", "state")
    )


def validate(args, report_violation) -> None:  # type: ignore[no-untyped-def]
    resources = list(args.resources)
    routed = [
        r
        for r in of_type(resources, EVENT_RULE)
        if _watches_failures(r)
        and any(
            refers(t, r, "rule", "name") and ":sns:" in str(get(t.props, "arn", default=""))
            for t in of_type(resources, EVENT_TARGET)
        )
    ]
    if not routed:
        report_violation(
            "failed AWS Backup jobs alert no one; add an EventBridge rule on aws.backup FAILED states "
            "targeting an SNS topic (vault notifications of BACKUP_JOB_FAILED are deprecated and silent; "
            "runbook 4)",
            None,
        )


RULE = stack_rule(
    "backup-alerts-failed-jobs", "failed backup jobs alert an SNS topic", "4", (), (EVENT_RULE,), validate
)
