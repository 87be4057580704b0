"""The policy pack: the real stacks pass with zero violations, and one-property mutations fail each rule.

Policies run through pulumi-policy's own ResourceValidationArgs / StackValidationArgs
(backupctl.offline.check), exactly the functions the CrossGuard pack registers.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any

import pytest

from backupctl.errors import BadInput
from backupctl.offline.check import run_rules
from backupctl.offline.deployment import policy_resources
from maestro_policies import ALL_POLICIES, RULES
from maestro_policies._scope import is_prod
from tests.conftest import Deployment
from tests.test_policy_wiring import MUTATIONS as WIRING_MUTATIONS

Mutation = Callable[[dict[str, Any]], None]


def _find(dep: dict[str, Any], token: str, name: str = "") -> list[dict[str, Any]]:
    found = [
        r
        for r in dep["deployment"]["resources"]
        if r["type"] == token and name in r["urn"].rsplit("::", 1)[-1]
    ]
    assert found, f"no {token} *{name}*"
    return found


def setting(token: str, name: str, path: str, value: Any) -> Mutation:
    """Set inputs.<path> (dot-separated, ints index lists) on every matching resource; None deletes."""

    def mutate(dep: dict[str, Any]) -> None:
        for r in _find(dep, token, name):
            target: Any = r["inputs"]
            steps = [int(s) if s.isdigit() else s for s in path.split(".")]
            for step in steps[:-1]:
                target = target[step]
            if value is None:
                target.pop(steps[-1], None)
            else:
                target[steps[-1]] = value
            r["outputs"] = {}

    return mutate


def policy_doc(token: str, name: str, edit: Callable[[dict[str, Any]], None]) -> Mutation:
    def mutate(dep: dict[str, Any]) -> None:
        for r in _find(dep, token, name):
            doc = json.loads(r["inputs"]["policy"])
            edit(doc)
            r["inputs"]["policy"] = json.dumps(doc)

    return mutate


def remove(token: str, name: str = "") -> Mutation:
    def mutate(dep: dict[str, Any]) -> None:
        doomed = {r["urn"] for r in _find(dep, token, name)}
        dep["deployment"]["resources"] = [r for r in dep["deployment"]["resources"] if r["urn"] not in doomed]

    return mutate


def edit(token: str, name: str, change: Callable[[dict[str, Any]], object]) -> Mutation:
    """Apply ``change`` to every matching resource (inputs and all); outputs are dropped."""

    def mutate(dep: dict[str, Any]) -> None:
        for r in _find(dep, token, name):
            change(r)
            r["outputs"] = {}

    return mutate


def add(resource: Callable[[dict[str, Any]], dict[str, Any]]) -> Mutation:
    """Append a resource built from the deployment."""

    def mutate(dep: dict[str, Any]) -> None:
        dep["deployment"]["resources"].append(resource(dep))

    return mutate


def urn_of(dep: dict[str, Any], token: str, name: str) -> str:
    return _find(dep, token, name)[0]["urn"]


def both(first: Mutation, second: Mutation) -> Mutation:
    def mutate(dep: dict[str, Any]) -> None:
        first(dep)
        second(dep)

    return mutate


def feed(selection: str, plan: str) -> Mutation:
    """Point a backup selection at another plan (its plan_id and the dependency the engine records)."""

    def mutate(dep: dict[str, Any]) -> None:
        target = _find(dep, PLAN, plan)[0]
        for r in _find(dep, SELECTION, selection):
            r["inputs"]["planId"] = target["id"]
            r["propertyDependencies"]["planId"] = [target["urn"]]
            r["outputs"] = {}

    return mutate


def retarget_schedule(schedule: str, function: str) -> Mutation:
    def mutate(dep: dict[str, Any]) -> None:
        target = _find(dep, FUNCTION, function)[0]
        for r in _find(dep, SCHEDULE, schedule):
            r["inputs"]["target"]["arn"] = target["outputs"]["arn"]
            r["propertyDependencies"]["target"] = [
                u for u in r["propertyDependencies"]["target"] if "aws:lambda/function" not in u
            ] + [target["urn"]]
            r["outputs"] = {}

    return mutate


def env(function: str, key: str, change: Callable[[str], str]) -> Mutation:
    return edit(
        FUNCTION,
        function,
        lambda r: r["inputs"]["environment"]["variables"].update(
            {key: change(r["inputs"]["environment"]["variables"][key])}
        ),
    )


def second_lifecycle(bucket: str) -> Mutation:
    def build(dep: dict[str, Any]) -> dict[str, Any]:
        twin = copy.deepcopy(_find(dep, LIFECYCLE, bucket)[0])
        twin["urn"] += "-twin"
        return twin

    return add(build)


def drop_dr_keys(text: str) -> str:
    return json.dumps({k: v for k, v in json.loads(text).items() if not k.endswith("-dr")})


def without_principal(sid: str, principal: str) -> Callable[[dict[str, Any]], None]:
    def change(doc: dict[str, Any]) -> None:
        for statement in doc["Statement"]:
            if statement.get("Sid") == sid:
                services = statement["Principal"]["Service"]
                statement["Principal"]["Service"] = [p for p in services if p != principal]

    return change


def without_statement(sid: str) -> Callable[[dict[str, Any]], None]:
    def change(doc: dict[str, Any]) -> None:
        doc["Statement"] = [st for st in doc["Statement"] if st.get("Sid") != sid]

    return change


def exempting(change: Callable[[list[str]], list[str]]) -> Callable[[dict[str, Any]], None]:
    def edit_doc(doc: dict[str, Any]) -> None:
        for statement in doc["Statement"]:
            if statement.get("Sid") == "DenyEveryoneButBackupAndBreakGlass":
                allowed = statement["Condition"]["ArnNotLike"]["aws:PrincipalArn"]
                statement["Condition"]["ArnNotLike"]["aws:PrincipalArn"] = change(allowed)

    return edit_doc


RDS, KEY, BUCKET = "aws:rds/instance:Instance", "aws:kms/key:Key", "aws:s3/bucket:Bucket"
PLAN, SELECTION = "aws:backup/plan:Plan", "aws:backup/selection:Selection"
VAULT_LOCK = "aws:backup/vaultLockConfiguration:VaultLockConfiguration"
ROLE, ROLE_POLICY = "aws:iam/role:Role", "aws:iam/rolePolicy:RolePolicy"
ATTACHMENT = "aws:iam/rolePolicyAttachment:RolePolicyAttachment"
FUNCTION, SCHEDULE = "aws:lambda/function:Function", "aws:scheduler/schedule:Schedule"
TOPIC, TOPIC_POLICY = "aws:sns/topic:Topic", "aws:sns/topicPolicy:TopicPolicy"
EVENT_RULE, TRAIL = "aws:cloudwatch/eventRule:EventRule", "aws:cloudtrail/trail:Trail"
BUCKET_POLICY = "aws:s3/bucketPolicy:BucketPolicy"
LIFECYCLE = "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration"
LOCK = "aws:s3/bucketObjectLockConfiguration:BucketObjectLockConfiguration"

# (policy, stack, mutation, expected words in the violation)
MUTATIONS: list[tuple[str, str, Mutation, str]] = [
    (
        "rds-instance-backup-retention",
        "staging",
        setting(RDS, "orchestrator", "backupRetentionPeriod", 3),
        "backup retention is 3 days; runbook 1.1 requires >= 7",
    ),
    (
        "rds-instance-backup-retention",
        "prod",
        setting(RDS, "reporting", "backupRetentionPeriod", 0),
        "disabled (0 days)",
    ),
    (
        "rds-instance-cmk-encryption",
        "staging",
        setting(RDS, "orchestrator", "kmsKeyId", "alias/aws/rds"),
        "uses the AWS-managed key",
    ),
    (
        "rds-instance-cmk-encryption",
        "prod",
        setting(RDS, "routing", "storageEncrypted", False),
        "not encrypted",
    ),
    (
        "rds-instance-deletion-protection",
        "prod",
        setting(RDS, "routing", "deletionProtection", False),
        "no deletion protection in prod",
    ),
    (
        "rds-instance-copy-tags-to-snapshot",
        "staging",
        setting(RDS, "reporting", "copyTagsToSnapshot", False),
        "does not copy tags to snapshots",
    ),
    (
        "rds-instance-final-snapshot",
        "prod",
        setting(RDS, "orchestrator", "skipFinalSnapshot", True),
        "skips its final snapshot",
    ),
    (
        "rds-instance-final-snapshot",
        "staging",
        setting(RDS, "orchestrator", "deleteAutomatedBackups", True),
        "deletes automated backups",
    ),
    (
        "backup-plan-selects-every-database",
        "prod",
        setting(RDS, "reporting", "tags.maestro:backup", "false"),
        "is not selected by any AWS Backup selection",
    ),
    (
        "backup-plan-retention",
        "staging",
        setting("aws:backup/plan:Plan", "backup-plan", "rules.1.lifecycle.deleteAfter", 14),
        "keeps recovery points 14 days; runbook 1.1 requires >= 30",
    ),
    (
        "backup-plan-retention",
        "prod",
        setting("aws:backup/plan:Plan", "backup-plan", "rules.0.lifecycle.deleteAfter", 5),
        "requires >= 7",
    ),
    (
        "backup-vault-cmk-encryption",
        "staging",
        setting("aws:backup/vault:Vault", "backup-vault", "kmsKeyArn", None),
        "not encrypted with a customer-managed key",
    ),
    (
        "backup-vault-lock",
        "prod",
        remove("aws:backup/vaultLockConfiguration:VaultLockConfiguration", "backup-vault-lock"),
        "has no vault lock in prod",
    ),
    (
        "backup-vault-lock",
        "prod",
        setting(
            "aws:backup/vaultLockConfiguration:VaultLockConfiguration",
            "dr-vault-lock",
            "changeableForDays",
            None,
        ),
        "governance mode in prod",
    ),
    (
        "kms-key-rotation",
        "staging",
        setting(KEY, "keys-config", "enableKeyRotation", False),
        "does not rotate",
    ),
    (
        "kms-key-rotation",
        "prod",
        setting(KEY, "keys-logs", "rotationPeriodInDays", 730),
        "rotates every 730 days; runbook 3 requires <= 365",
    ),
    (
        "s3-bucket-versioning",
        "staging",
        setting(
            "aws:s3/bucketVersioning:BucketVersioning",
            "artifacts",
            "versioningConfiguration.status",
            "Suspended",
        ),
        "is not versioned",
    ),
    (
        "s3-bucket-versioning",
        "prod",
        remove("aws:s3/bucketVersioning:BucketVersioning", "evidence"),
        "is not versioned",
    ),
    (
        "s3-bucket-sse-kms",
        "staging",
        setting(
            "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
            "config",
            "rules.0.applyServerSideEncryptionByDefault",
            {"sseAlgorithm": "AES256"},
        ),
        "no default SSE-KMS",
    ),
    (
        "s3-bucket-public-access-block",
        "prod",
        setting(
            "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",
            "evidence",
            "restrictPublicBuckets",
            False,
        ),
        "leaves restrictPublicBuckets off",
    ),
    (
        "s3-bucket-tls-only",
        "staging",
        policy_doc(
            "aws:s3/bucketPolicy:BucketPolicy",
            "artifacts",
            lambda d: d.update(Statement=[s for s in d["Statement"] if s["Sid"] != "DenyInsecureTransport"]),
        ),
        "does not deny",
    ),
    (
        "s3-bucket-artifacts-lifecycle",
        "staging",
        setting(LIFECYCLE, "artifacts", "rules.0.transitions.1.days", 60),
        "transitions are [(30, 'STANDARD_IA'), (60, 'GLACIER')]",
    ),
    (
        "s3-bucket-artifacts-lifecycle",
        "prod",
        setting(LIFECYCLE, "artifacts", "rules.0.expiration.days", 365),
        "expiration is 365 days (rule `artifacts-tiering`), expected 180",
    ),
    (
        "s3-bucket-artifacts-lifecycle",
        "staging",
        setting(LIFECYCLE, "artifacts", "rules.0.noncurrentVersionExpiration", None),
        "noncurrent versions never expire",
    ),
    (
        "s3-bucket-artifacts-lifecycle",
        "staging",
        setting(LIFECYCLE, "artifacts", "rules.0.abortIncompleteMultipartUpload", None),
        "never aborted",
    ),
    (
        "s3-bucket-evidence-object-lock",
        "staging",
        setting(LOCK, "evidence", "rule.defaultRetention.days", 30),
        "default retention is 30 days; runbook 1.2 requires >= 90",
    ),
    (
        "s3-bucket-evidence-object-lock",
        "prod",
        setting(LOCK, "evidence", "rule.defaultRetention.mode", "GOVERNANCE"),
        "lock mode is GOVERNANCE in prod",
    ),
    (
        "s3-bucket-evidence-object-lock",
        "staging",
        setting(LIFECYCLE, "evidence", "rules.0.transitions.0.days", 60),
        "moves to DEEP_ARCHIVE at 60 days, before the 90-day lock",
    ),
    (
        "s3-bucket-evidence-object-lock",
        "prod",
        setting(BUCKET, "evidence", "objectLockEnabled", False),
        "Object Lock is not enabled",
    ),
    (
        "s3-bucket-config-restricted",
        "staging",
        policy_doc(
            "aws:s3/bucketPolicy:BucketPolicy",
            "config",
            lambda d: d.update(
                Statement=[s for s in d["Statement"] if s["Sid"] != "DenyEveryoneButBackupAndBreakGlass"]
            ),
        ),
        "does not deny object access",
    ),
    (
        "iam-role-config-backup-no-secret-values",
        "prod",
        policy_doc(
            "aws:iam/rolePolicy:RolePolicy",
            "config-backup-role-policy",
            lambda d: d["Statement"].append(
                {"Effect": "Allow", "Action": "secretsmanager:GetSecretValue", "Resource": "*"}
            ),
        ),
        "may read secret values",
    ),
    (
        "scheduler-schedule-daily-config-backup",
        "staging",
        setting(
            "aws:scheduler/schedule:Schedule", "config-backup", "scheduleExpression", "cron(0 3 ? * MON *)"
        ),
        "not daily",
    ),
    (
        "scheduler-schedule-daily-config-backup",
        "prod",
        setting("aws:scheduler/schedule:Schedule", "config-backup", "state", "DISABLED"),
        "is disabled",
    ),
    (
        "scheduler-schedule-kms-validation",
        "staging",
        setting("aws:scheduler/schedule:Schedule", "kms-validate", "scheduleExpression", "rate(90 days)"),
        "less often than monthly",
    ),
    (
        "scheduler-schedule-kms-validation",
        "prod",
        remove("aws:scheduler/schedule:Schedule", "kms-validate"),
        "no EventBridge Scheduler schedule invokes the KMS validation",
    ),
    (
        "cloudtrail-trail-multi-region-validation",
        "prod",
        setting("aws:cloudtrail/trail:Trail", "", "enableLogFileValidation", False),
        "no log file validation",
    ),
    (
        "cloudtrail-trail-multi-region-validation",
        "staging",
        setting("aws:cloudtrail/trail:Trail", "", "isMultiRegionTrail", False),
        "no multi-region",
    ),
    (
        "backup-alerts-failed-jobs",
        "staging",
        both(
            remove("aws:cloudwatch/eventTarget:EventTarget"),
            remove("aws:backup/vaultNotifications:VaultNotifications"),
        ),
        "has no SNS topic target",
    ),
    # --- rules that follow references the way AWS evaluates them ---------------------------------------
    (
        "backup-plan-selects-every-database",
        "prod",
        feed("backup-selection", "pitr-plan"),
        "which has no daily and no weekly rule",
    ),
    (
        "backup-plan-selects-every-database",
        "staging",
        edit(PLAN, "backup-plan", lambda r: r["inputs"]["rules"].pop(1)),
        "which has no weekly rule",
    ),
    (
        "backup-vault-lock-retention",
        "staging",
        setting(VAULT_LOCK, "backup-vault-lock", "minRetentionDays", 10),
        "rule `daily` keeps recovery points 7 days, less than the lock's minimum of 10 days",
    ),
    (
        "backup-vault-lock-retention",
        "prod",
        setting(VAULT_LOCK, "dr-vault-lock", "maxRetentionDays", 20),
        "copy action keeps recovery points 30 days, more than the lock's maximum of 20 days",
    ),
    (
        "backup-vault-lock-retention",
        "staging",
        setting(PLAN, "backup-plan", "rules.0.lifecycle", None),
        "keeps recovery points forever, more than the lock's maximum of 400 days",
    ),
    (
        # staging: prod runs no restore testing (issue 10), so only staging's role must be able to restore
        "iam-role-backup-service-permissions",
        "staging",
        remove(ATTACHMENT, "backup-role-policy-1"),
        "lacks AWSBackupServiceRolePolicyForRestores",
    ),
    (
        "iam-role-backup-service-permissions",
        "staging",
        edit(
            ROLE,
            "staging-backup-role",
            lambda r: r["inputs"].update(
                assumeRolePolicy=r["inputs"]["assumeRolePolicy"].replace("backup.", "lambda.")
            ),
        ),
        "does not trust backup.amazonaws.com",
    ),
    (
        "iam-role-backup-service-permissions",
        "staging",
        edit(
            SELECTION,
            "backup-selection",
            lambda r: (
                r["inputs"].update(iamRoleArn="arn:aws:iam::111122223333:role/elsewhere"),
                r["propertyDependencies"].update(iamRoleArn=[]),
            ),
        ),
        "a role the stack does not declare",
    ),
    ("kms-key-rotation", "staging", setting(KEY, "keys-rds", "isEnabled", False), "is disabled"),
    (
        "kms-key-validation-coverage",
        "prod",
        env("kms-validate-function", "MAESTRO_KEY_ARNS", drop_dr_keys),
        "(eu-central-1) is not in the KMS validation's MAESTRO_KEY_ARNS",
    ),
    (
        "kms-key-validation-coverage",
        "staging",
        policy_doc(ROLE_POLICY, "kms-validate-role-policy", lambda d: d["Statement"][0]["Resource"].pop()),
        "cannot be used by the KMS validation's role",
    ),
    (
        "scheduler-schedule-daily-config-backup",
        "staging",
        retarget_schedule("config-backup-schedule", "kms-validate-function"),
        "no EventBridge Scheduler schedule invokes the config backup",
    ),
    (
        "scheduler-schedule-daily-config-backup",
        "prod",
        policy_doc(
            ROLE_POLICY,
            "config-backup-scheduler-policy",
            lambda d: d["Statement"][0].update(
                Resource="arn:aws:lambda:eu-west-1:444455556666:function:other"
            ),
        ),
        "may not lambda:InvokeFunction",
    ),
    (
        "scheduler-schedule-daily-config-backup",
        "staging",
        env("config-backup-function", "MAESTRO_PARAMETER_PATHS", lambda _: "/maestro/policies"),
        "is not told the configured path /maestro/routing-pins",
    ),
    (
        "scheduler-schedule-daily-config-backup",
        "prod",
        policy_doc(
            ROLE_POLICY,
            "config-backup-role-policy",
            lambda d: d["Statement"][0].update(
                Resource=[r for r in d["Statement"][0]["Resource"] if "routing-pins" not in r]
            ),
        ),
        "may not ssm:GetParametersByPath /maestro/routing-pins",
    ),
    (
        "scheduler-schedule-kms-validation",
        "staging",
        policy_doc(ROLE_POLICY, "kms-validate-scheduler-policy", lambda d: d["Statement"].clear()),
        "may not lambda:InvokeFunction",
    ),
    (
        "cloudtrail-trail-multi-region-validation",
        "prod",
        setting(TRAIL, "", "enableLogging", False),
        "logging stopped",
    ),
    (
        "cloudtrail-trail-multi-region-validation",
        "staging",
        setting(TRAIL, "", "eventSelectors", [{"includeManagementEvents": False, "dataResources": []}]),
        "exclude management events and name no data events",
    ),
    (
        "backup-alerts-failed-jobs",
        "prod",
        setting(EVENT_RULE, "failed-jobs", "state", "DISABLED"),
        "EventRule `maestro-prod-alerts-failed-jobs` is disabled",
    ),
    (
        "backup-alerts-failed-jobs",
        "staging",
        remove("aws:sns/topicSubscription:TopicSubscription"),
        "has no subscriber",
    ),
    (
        "backup-alerts-failed-jobs",
        "prod",
        policy_doc(KEY, "keys-logs", without_statement("EventsPublishesToAlerts")),
        "policy does not let events.amazonaws.com kms:GenerateDataKey* and kms:Decrypt",
    ),
    (
        "backup-alerts-failed-jobs",
        "staging",
        policy_doc(
            TOPIC_POLICY,
            "alerts-topic-policy",
            without_principal("ServicesPublishAlerts", "events.amazonaws.com"),
        ),
        "policy does not let events.amazonaws.com publish",
    ),
    (
        "backup-alerts-failed-jobs",
        "prod",
        setting(TOPIC, "alerts-topic", "kmsMasterKeyId", "alias/aws/sns"),
        "uses the AWS-managed key",
    ),
    (
        "s3-bucket-artifacts-lifecycle",
        "staging",
        edit(
            LIFECYCLE,
            "artifacts",
            lambda r: r["inputs"]["rules"].append(
                {"id": "everything", "status": "Enabled", "expiration": {"days": 30}}
            ),
        ),
        "expiration is 30 days (rule `everything`), expected 180",
    ),
    (
        "s3-bucket-artifacts-lifecycle",
        "prod",
        edit(
            LIFECYCLE,
            "artifacts",
            lambda r: r["inputs"]["rules"].append(
                {
                    "id": "scratch",
                    "status": "Enabled",
                    "filter": {"prefix": "artifacts/tmp/"},
                    "expiration": {"days": 1},
                }
            ),
        ),
        "expiration is 1 day (rule `scratch`)",
    ),
    (
        "s3-bucket-artifacts-lifecycle",
        "staging",
        setting(LIFECYCLE, "artifacts", "rules.0.status", "Disabled"),
        "no enabled lifecycle rule for artifacts/",
    ),
    (
        "s3-bucket-artifacts-lifecycle",
        "prod",
        second_lifecycle("artifacts"),
        "has 2 lifecycle configurations",
    ),
    (
        "s3-bucket-evidence-object-lock",
        "staging",
        edit(
            LIFECYCLE,
            "evidence",
            lambda r: r["inputs"]["rules"].append(
                {
                    "id": "all",
                    "status": "Enabled",
                    "transitions": [{"days": 30, "storageClass": "DEEP_ARCHIVE"}],
                }
            ),
        ),
        "moves to DEEP_ARCHIVE at 30 days, before the 90-day lock ends",
    ),
    (
        "s3-bucket-config-restricted",
        "prod",
        policy_doc(
            BUCKET_POLICY,
            "config-policy",
            exempting(lambda a: [*a, "arn:aws:iam::444455556666:role/intruder"]),
        ),
        "role/intruder is neither a job using the bucket nor a break-glass role",
    ),
    (
        "s3-bucket-config-restricted",
        "staging",
        policy_doc(
            BUCKET_POLICY, "config-policy", exempting(lambda a: [x for x in a if "kms-validate" not in x])
        ),
        "the role of `maestro-staging-kms-validate-function`",
    ),
    (
        "s3-bucket-config-restricted",
        "staging",
        policy_doc(
            BUCKET_POLICY, "config-policy", exempting(lambda a: [*a, "arn:aws:iam::111122223333:role/*"])
        ),
        "is a wildcard",
    ),
]


@pytest.mark.parametrize("stack_name", ["staging", "prod"])
def test_real_stacks_pass_every_policy(deployments: dict[str, Deployment], stack_name: str) -> None:
    findings = run_rules(deployments[stack_name].raw, stack=stack_name)
    failures = [f"{f.check}: {f.message}" for f in findings if f.status == "FAIL"]
    assert failures == []
    assert {f.check for f in findings} == {r.name for r in RULES}, "every policy applies to something"


EVERY_MUTATION = [*MUTATIONS, *WIRING_MUTATIONS]  # the wiring rules' live beside their helpers


@pytest.mark.parametrize(
    ("policy", "stack_name", "mutation", "expected"),
    EVERY_MUTATION,
    ids=[f"{m[0]}-{i}" for i, m in enumerate(EVERY_MUTATION)],
)
def test_mutation_fails_the_policy(
    deployments: dict[str, Deployment], policy: str, stack_name: str, mutation: Mutation, expected: str
) -> None:
    dep = copy.deepcopy(deployments[stack_name].raw)
    mutation(dep)
    rule = next(r for r in RULES if r.name == policy)
    failures = [f for f in run_rules(dep, rules=[rule], stack=stack_name) if f.status == "FAIL"]
    assert failures, f"{policy} did not fail"
    assert any(expected in f.message for f in failures), [f.message for f in failures]


def test_every_registered_policy_has_a_mutation_test() -> None:
    tested = {m[0] for m in EVERY_MUTATION}
    assert {p.name for p in ALL_POLICIES} - tested == set()


def test_policy_names_follow_service_resource_rule_and_name_a_section() -> None:
    for rule in RULES:
        assert rule.name.count("-") >= 2 and rule.name == rule.name.lower(), rule.name
        assert rule.policy.description.startswith(f"Runbook {rule.section}:"), rule.name


def _only(dep: dict[str, Any], policy: str, **kwargs: Any) -> list[Any]:
    rule = next(r for r in RULES if r.name == policy)
    return run_rules(dep, rules=[rule], **kwargs)


def test_a_threshold_can_be_tightened_and_the_message_says_it_came_from_the_policy_config(
    deployments: dict[str, Deployment],
) -> None:
    dep = deployments["staging"].raw
    config = {"rds-instance-backup-retention": {"minRetentionDays": 10}}
    failures = [f for f in _only(dep, "rds-instance-backup-retention", config=config) if f.status == "FAIL"]
    assert failures, "a 7-day retention must fail a tightened floor of 10"
    assert all(
        "policy config minRetentionDays requires >= 10 (runbook 1.1: >= 7)" in f.message for f in failures
    )


def test_the_runbook_threshold_is_named_as_the_runbook_s(deployments: dict[str, Deployment]) -> None:
    dep = copy.deepcopy(deployments["staging"].raw)
    setting(RDS, "orchestrator", "backupRetentionPeriod", 5)(dep)
    [failure] = [f for f in _only(dep, "rds-instance-backup-retention") if f.status == "FAIL"]
    assert failure.message.endswith(
        "backup retention is 5 days; runbook 1.1 requires >= 7 (set backup_retention_period)"
    )


def test_a_threshold_below_the_runbook_floor_is_refused(deployments: dict[str, Deployment]) -> None:
    with pytest.raises(BadInput, match=r"minRetentionDays: expected an integer >= 7 .*found 1"):
        _only(
            deployments["staging"].raw,
            "rds-instance-backup-retention",
            config={"rds-instance-backup-retention": {"minRetentionDays": 1}},
        )


def test_a_prod_export_without_environment_tags_still_gets_the_prod_rules(
    deployments: dict[str, Deployment],
) -> None:
    dep = copy.deepcopy(deployments["prod"].raw)
    for r in dep["deployment"]["resources"]:
        for props in (r.get("inputs") or {}, r.get("outputs") or {}):
            if isinstance(props.get("tags"), dict):
                props["tags"].pop("maestro:environment", None)
    setting(RDS, "routing", "deletionProtection", False)(dep)
    failures = [f for f in _only(dep, "rds-instance-deletion-protection") if f.status == "FAIL"]
    assert [f.resource_name for f in failures] == ["maestro-prod-db-routing-instance"]


def test_prod_only_rules_are_not_applicable_on_staging_not_passed(deployments: dict[str, Deployment]) -> None:
    results = _only(deployments["staging"].raw, "backup-vault-lock")
    assert {r.status for r in results} == {"N/A"}
    assert "applies to prod only" in results[0].message


def test_an_environment_given_for_a_deployment_decides_the_prod_rules(
    deployments: dict[str, Deployment],
) -> None:
    results = _only(deployments["staging"].raw, "backup-vault-lock", environment="prod")
    assert any(r.status == "FAIL" and "lock is governance mode in prod" in r.message for r in results)


@pytest.mark.parametrize(
    ("source", "stack", "tags", "expected"),
    [
        ("prod", "production", False, True),
        ("prod", "eu_prod", False, True),
        ("prod", "Prod-2", False, True),
        ("prod", "qa", True, True),  # a stack name that says nothing, but prod tags
        ("prod", "non-prod", False, False),
        ("staging", "prod", True, True),
        ("staging", "preprod", True, False),
    ],
)
def test_under_the_engine_prod_is_the_stack_name_or_a_prod_tag(
    deployments: dict[str, Deployment], source: str, stack: str, tags: bool, expected: bool
) -> None:
    """Without backupctl's runner (`pulumi preview --policy-pack`), a prod-only rule decides from the URNs'
    stack name and the program's maestro:environment tags; a prod stack not named exactly prod is prod."""
    from pulumi_policy import ResourceValidationArgs, StackValidationArgs

    resources = policy_resources(deployments[source].as_stack(stack, environment_tags=tags))
    db = next(r for r in resources if r.resource_type == RDS)
    resource_args = ResourceValidationArgs(db.resource_type, db.props, db.urn, db.name, db.opts, None, {})
    stack_args = StackValidationArgs(resources, {})  # type: ignore[arg-type]
    assert (is_prod(resource_args), is_prod(stack_args)) == (expected, expected)


def test_a_rule_does_not_pass_resources_it_does_not_judge(deployments: dict[str, Deployment]) -> None:
    lifecycle = _only(deployments["staging"].raw, "s3-bucket-artifacts-lifecycle")
    assert [r.resource_name for r in lifecycle if r.status == "PASS"] == ["maestro-staging-artifacts-bucket"]
    daily = _only(deployments["prod"].raw, "scheduler-schedule-daily-config-backup")
    assert [r.resource_name for r in daily if r.status == "PASS"] == ["maestro-prod-config-backup-schedule"]


def test_a_disabled_lifecycle_rule_counts_for_nothing(deployments: dict[str, Deployment]) -> None:
    dep = copy.deepcopy(deployments["staging"].raw)
    edit(
        LIFECYCLE,
        "artifacts",
        lambda r: r["inputs"]["rules"].append({"id": "off", "status": "Disabled", "expiration": {"days": 1}}),
    )(dep)
    assert {r.status for r in _only(dep, "s3-bucket-artifacts-lifecycle")} == {"PASS"}


def test_an_asymmetric_key_is_not_applicable_to_rotation(deployments: dict[str, Deployment]) -> None:
    dep = copy.deepcopy(deployments["staging"].raw)
    setting(KEY, "keys-rds", "customerMasterKeySpec", "RSA_2048")(dep)
    results = _only(dep, "kms-key-rotation")
    [na] = [r for r in results if r.status == "N/A"]
    assert na.resource_name == "maestro-staging-keys-rds" and "cannot rotate" in na.message


@pytest.mark.parametrize(
    ("policy", "mutation", "expected"),
    [
        (
            "rds-instance-backup-retention",
            setting(RDS, "orchestrator", "backupRetentionPeriod", "abc"),
            "'abc'",
        ),
        (
            "kms-key-rotation",
            setting(KEY, "keys-rds", "rotationPeriodInDays", "x"),
            "'x' (not a number of days)",
        ),
        ("backup-plan-retention", setting(PLAN, "backup-plan", "rules.0.lifecycle.deleteAfter", [7]), "[7]"),
        (
            "s3-bucket-evidence-object-lock",
            setting(LOCK, "evidence", "rule.defaultRetention.days", "90"),
            "no default",
        ),
        (
            "backup-vault-cmk-encryption",
            setting("aws:backup/vault:Vault", "backup-vault", "kmsKeyArn", 5),
            "not encrypted",
        ),
    ],
)
def test_a_wrong_type_is_a_finding_naming_the_value_not_a_crash(
    deployments: dict[str, Deployment], policy: str, mutation: Mutation, expected: str
) -> None:
    dep = copy.deepcopy(deployments["staging"].raw)
    mutation(dep)
    failures = [f for f in _only(dep, policy) if f.status == "FAIL"]
    assert any(expected in f.message for f in failures), [f.message for f in failures]


def test_a_suppression_tag_silences_one_resource_under_the_engine_and_offline(
    deployments: dict[str, Deployment],
) -> None:
    """The pack honours maestro:skip:<policy> itself, so `pulumi preview --policy-pack` agrees with check;
    offline the violation is kept as SUPPRESSED with its reason."""
    from pulumi_policy import ResourceValidationArgs

    dep = copy.deepcopy(deployments["staging"].raw)
    setting(RDS, "orchestrator", "copyTagsToSnapshot", False)(dep)
    rule = next(r for r in RULES if r.name == "rds-instance-copy-tags-to-snapshot")

    def engine_violations() -> list[str]:
        [db] = [r for r in policy_resources(dep) if r.name == "maestro-staging-db-orchestrator-instance"]
        found: list[str] = []
        args = ResourceValidationArgs(db.resource_type, db.props, db.urn, db.name, db.opts, None, {})
        rule.policy.validate(args, lambda message, urn=None: found.append(message))  # type: ignore[arg-type]
        return found

    assert engine_violations(), "the mutation must violate the rule"
    reason = "snapshots are copied by AWS Backup"
    setting(RDS, "orchestrator", "tags.maestro:skip:rds-instance-copy-tags-to-snapshot", reason)(dep)
    assert engine_violations() == []
    results = _only(dep, "rds-instance-copy-tags-to-snapshot")
    assert not [r for r in results if r.status == "FAIL"]
    [suppressed] = [r for r in results if r.status == "SUPPRESSED"]
    assert suppressed.suppression == ("inSource", reason)
    assert suppressed.resource_name == "maestro-staging-db-orchestrator-instance"
