"""The wiring policies (issue 10): both real stacks pass, and one mutation per defect class fails each.

Each mutation puts back, in the preview export, one defect the program had before issue 10: a traced
function whose role may not write traces, a schedule role that cannot decrypt its payload, an alerts key
that does not admit CloudWatch, a bucket policy naming a service-linked role nobody declared, a schedule
with no dead-letter queue, a canary reader that may not list, a weekly rule inside the maintenance
block, a vault anyone may empty, deprecated vault events, a restore test into the default network.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from backupctl.offline.check import run_rules
from maestro_policies import RULES
from tests.conftest import Deployment

Mutation = Callable[[dict[str, Any]], None]
WIRING = {
    "lambda-function-tracing-permissions",
    "scheduler-schedule-cmk-decrypt",
    "sns-topic-cmk-publishers",
    "iam-service-linked-role-principal-exists",
    "lambda-function-failure-path",
    "iam-role-s3-read-can-list",
    "backup-plan-window-clear-of-maintenance",
    "backup-vault-deletion-denied",
    "backup-vault-notification-events",
    "backup-restore-testing-isolated",
}


def _named(dep: dict[str, Any], token: str, name: str) -> list[dict[str, Any]]:
    found = [
        r
        for r in dep["deployment"]["resources"]
        if r["type"] == token and name in r["urn"].rsplit("::", 1)[-1]
    ]
    assert found, f"no {token} *{name}*"
    return found


def edit(token: str, name: str, change: Callable[[dict[str, Any]], None]) -> Mutation:
    def mutate(dep: dict[str, Any]) -> None:
        for r in _named(dep, token, name):
            change(r)

    return mutate


def document(token: str, name: str, change: Callable[[dict[str, Any]], None]) -> Mutation:
    def mutate(dep: dict[str, Any]) -> None:
        for r in _named(dep, token, name):
            doc = json.loads(r["inputs"]["policy"])
            change(doc)
            r["inputs"]["policy"] = json.dumps(doc)

    return mutate


def drop_sid(sid: str) -> Callable[[dict[str, Any]], None]:
    def change(doc: dict[str, Any]) -> None:
        before = len(doc["Statement"])
        doc["Statement"] = [s for s in doc["Statement"] if s.get("Sid") != sid]
        assert len(doc["Statement"]) == before - 1, f"no statement {sid}"

    return change


def remove(token: str, name: str) -> Mutation:
    def mutate(dep: dict[str, Any]) -> None:
        doomed = {r["urn"] for r in _named(dep, token, name)}
        dep["deployment"]["resources"] = [r for r in dep["deployment"]["resources"] if r["urn"] not in doomed]

    return mutate


def undepend(token: str, name: str, on_type: str) -> Mutation:
    def change(r: dict[str, Any]) -> None:
        r["dependencies"] = [
            d for d in r["dependencies"] if f"${on_type}::" not in d and f"::{on_type}::" not in d
        ]

    return edit(token, name, change)


ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
KEY = "aws:kms/key:Key"
FUNCTION = "aws:lambda/function:Function"
SCHEDULE = "aws:scheduler/schedule:Schedule"
ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"


def _source_account_on_events(doc: dict[str, Any]) -> None:
    statement = next(s for s in doc["Statement"] if s["Sid"] == "EventsPublishesToAlerts")
    statement["Condition"] = {"StringEquals": {"aws:SourceAccount": "111122223333"}}


def _topic_without_cloudwatch(doc: dict[str, Any]) -> None:
    doc["Statement"][0]["Principal"]["Service"].remove("cloudwatch.amazonaws.com")


def _undenied(action: str) -> Callable[[dict[str, Any]], None]:
    def change(doc: dict[str, Any]) -> None:
        doc["Statement"][0]["Action"].remove(action)

    return change


def _events(events: list[str]) -> Callable[[dict[str, Any]], None]:
    def change(r: dict[str, Any]) -> None:
        r["inputs"]["backupVaultEvents"] = events

    return change


# (policy, stack, mutation, expected words in the violation)
MUTATIONS: list[tuple[str, str, Mutation, str]] = [
    (
        "lambda-function-tracing-permissions",
        "prod",
        document(ROLE_POLICY, "config-backup-role-policy", drop_sid("UploadTraces")),
        "may not xray:PutTraceSegments / xray:PutTelemetryRecords",
    ),
    (
        "lambda-function-tracing-permissions",
        "staging",
        undepend(FUNCTION, "kms-validate-function", "aws:iam/rolePolicy:RolePolicy"),
        "does not depend on `maestro-staging-kms-validate-role-policy`",
    ),
    (
        "scheduler-schedule-cmk-decrypt",
        "staging",
        document(ROLE_POLICY, "kms-validate-scheduler-policy", drop_sid("DecryptSchedulePayload")),
        "may not kms:Decrypt it: Scheduler can never invoke the target",
    ),
    (
        "sns-topic-cmk-publishers",
        "prod",
        document(KEY, "keys-logs", drop_sid("CloudwatchPublishesToAlerts")),
        "does not let cloudwatch.amazonaws.com kms:GenerateDataKey*",
    ),
    (
        "sns-topic-cmk-publishers",
        "staging",
        document(KEY, "keys-logs", _source_account_on_events),
        "does not let events.amazonaws.com kms:GenerateDataKey*",
    ),
    (
        "sns-topic-cmk-publishers",
        "staging",
        document("aws:sns/topicPolicy:TopicPolicy", "alerts-topic-policy", _topic_without_cloudwatch),
        "policy does not let cloudwatch.amazonaws.com sns:Publish",
    ),
    (
        "sns-topic-cmk-publishers",
        "prod",
        document(ROLE_POLICY, "kms-validate-role-policy", drop_sid("PublishToEncryptedTopic")),
        "may publish to the encrypted topic",
    ),
    (
        "iam-service-linked-role-principal-exists",
        "staging",
        remove("aws:iam/serviceLinkedRole:ServiceLinkedRole", "backup-reports-role"),
        "AWSServiceRoleForBackupReports, not declared by the stack",
    ),
    (
        "iam-service-linked-role-principal-exists",
        "prod",
        undepend(
            "aws:s3/bucketPolicy:BucketPolicy",
            "audit-bucket-policy",
            "aws:iam/serviceLinkedRole:ServiceLinkedRole",
        ),
        "does not depend on it",
    ),
    (
        "lambda-function-failure-path",
        "staging",
        edit(SCHEDULE, "config-backup-schedule", lambda r: r["inputs"]["target"].pop("deadLetterConfig")),
        "has no dead-letter queue",
    ),
    (
        "lambda-function-failure-path",
        "prod",
        remove(ALARM, "kms-validate-errors"),
        "neither an Errors alarm nor an on-failure destination",
    ),
    (
        "lambda-function-failure-path",
        "staging",
        remove(ALARM, "config-backup-dlq-depth"),
        "has no alarm with actions",
    ),
    (
        "iam-role-s3-read-can-list",
        "staging",
        document(ROLE_POLICY, "kms-validate-role-policy", drop_sid("ListOwnCanaries")),
        "not s3:ListBucket on arn:aws:s3:::maestro-staging-config",
    ),
    (
        "backup-plan-window-clear-of-maintenance",
        "prod",
        edit(
            "aws:rds/instance:Instance",
            "orchestrator",
            lambda r: r["inputs"].update(
                maintenanceWindow="sun:04:30-sun:05:30"
            ),  # the program before issue 10
        ),
        "rule `weekly` (cron(0 4 ? * SUN *), start window 60 min) can fall in the hour before",
    ),
    (
        "backup-plan-window-clear-of-maintenance",
        "staging",
        edit(
            "aws:backup/plan:Plan",
            "backup-plan",
            lambda r: r["inputs"]["rules"][1].update(schedule="cron(30 6 ? * 1 *)"),
        ),
        "during `maestro-staging-db-orchestrator-instance`'s maintenance window",
    ),
    (
        "backup-vault-deletion-denied",
        "prod",
        remove("aws:backup/vaultPolicy:VaultPolicy", "dr-vault-policy"),
        "has no access policy",
    ),
    (
        "backup-vault-deletion-denied",
        "staging",
        document(
            "aws:backup/vaultPolicy:VaultPolicy",
            "vault-policy",
            _undenied("backup:PutBackupVaultAccessPolicy"),
        ),
        "does not deny backup:PutBackupVaultAccessPolicy",
    ),
    (
        "backup-vault-notification-events",
        "staging",
        edit(
            "aws:backup/vaultNotifications:VaultNotifications",
            "vault-notifications",
            _events(["BACKUP_JOB_FAILED", "RESTORE_JOB_FAILED", "CONTINUOUS_BACKUP_INTERRUPTED"]),
        ),
        "deprecated events BACKUP_JOB_FAILED, RESTORE_JOB_FAILED",
    ),
    (
        "backup-vault-notification-events",
        "prod",
        remove("aws:backup/vaultNotifications:VaultNotifications", "dr-vault-notifications"),
        "`maestro-prod-backup-dr-vault` notifies no one",
    ),
    (
        "backup-vault-notification-events",
        "prod",
        edit(
            "aws:backup/vaultNotifications:VaultNotifications",
            "backup-vault-notifications",
            _events(["COPY_JOB_FAILED"]),
        ),
        "does not notify CONTINUOUS_BACKUP_INTERRUPTED",
    ),
    (
        "backup-restore-testing-isolated",
        "staging",
        edit(
            "aws:backup/restoreTestingSelection:RestoreTestingSelection",
            "restore-testing-selection",
            lambda r: r["inputs"]["restoreMetadataOverrides"].pop("vpcsecuritygroupids"),
        ),
        "does not override vpcsecuritygroupids",
    ),
]


@pytest.mark.parametrize("stack_name", ["staging", "prod"])
def test_real_stacks_pass_every_wiring_policy(deployments: dict[str, Deployment], stack_name: str) -> None:
    rules = [r for r in RULES if r.name in WIRING]
    assert {r.name for r in rules} == WIRING, "every wiring policy is registered in the pack"
    findings = run_rules(deployments[stack_name].raw, rules=rules, stack=stack_name)
    assert [f"{f.check}: {f.message}" for f in findings if f.status == "FAIL"] == []
    assert {f.check for f in findings} == WIRING, "every wiring policy applies to something"


def test_every_wiring_policy_has_a_mutation_test() -> None:
    assert {m[0] for m in MUTATIONS} == WIRING


def test_a_rule_start_window_is_placed_in_utc_with_its_timezone() -> None:
    from maestro_policies.backup_plan_window_clear_of_maintenance import blocked, overlaps, rule_starts

    sunday_seven = blocked("sun:07:00-sun:08:00")
    utc = rule_starts("cron(0 4 ? * SUN *)", 60, "UTC")
    assert sunday_seven is not None and utc is not None
    assert sunday_seven == (6 * 60, 8 * 60) and utc == [(240, 300)]
    assert not any(overlaps(s, sunday_seven) for s in utc)
    # 08:00 in Berlin is 07:00 UTC in winter and 06:00 in summer: both inside the blocked hours.
    berlin = rule_starts("cron(0 8 ? * SUN *)", 60, "Europe/Berlin")
    assert berlin is not None and sorted(berlin) == [(360, 420), (420, 480)]
    assert all(overlaps(s, sunday_seven) for s in berlin)
    assert rule_starts("cron(0 * * * ? *)", 60, "UTC") is None  # hourly: not a daily start to place
