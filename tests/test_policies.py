"""The policy pack: the real stacks pass with zero violations, and one-property mutations fail each rule.

Policies run through pulumi-policy's own ResourceValidationArgs / StackValidationArgs
(backupctl.offline.check), exactly the functions the CrossGuard pack registers.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from backupctl.cli import main
from backupctl.offline.check import run_rules
from maestro_policies import ALL_POLICIES, RULES
from tests.conftest import Deployment

FIXTURE = Path(__file__).parent / "fixtures" / "stack-export-prod.json"
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


def both(first: Mutation, second: Mutation) -> Mutation:
    def mutate(dep: dict[str, Any]) -> None:
        first(dep)
        second(dep)

    return mutate


RDS, KEY, BUCKET = "aws:rds/instance:Instance", "aws:kms/key:Key", "aws:s3/bucket:Bucket"
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
        "expiration is 365 days, expected 180",
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
        "lacks log file validation",
    ),
    (
        "cloudtrail-trail-multi-region-validation",
        "staging",
        setting("aws:cloudtrail/trail:Trail", "", "isMultiRegionTrail", False),
        "lacks multi-region",
    ),
    (
        "backup-alerts-failed-jobs",
        "staging",
        both(
            remove("aws:cloudwatch/eventTarget:EventTarget"),
            remove("aws:backup/vaultNotifications:VaultNotifications"),
        ),
        "alert no one",
    ),
]


@pytest.mark.parametrize("stack_name", ["staging", "prod"])
def test_real_stacks_pass_every_policy(deployments: dict[str, Deployment], stack_name: str) -> None:
    findings = run_rules(deployments[stack_name].raw, stack=stack_name)
    failures = [f"{f.check}: {f.message}" for f in findings if f.status == "FAIL"]
    assert failures == []
    assert {f.check for f in findings} == {r.name for r in RULES}, "every policy applies to something"


@pytest.mark.parametrize(
    ("policy", "stack_name", "mutation", "expected"),
    MUTATIONS,
    ids=[f"{m[0]}-{i}" for i, m in enumerate(MUTATIONS)],
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
    from tests.test_policy_wiring import MUTATIONS as WIRING_MUTATIONS

    tested = {m[0] for m in [*MUTATIONS, *WIRING_MUTATIONS]}
    assert {p.name for p in ALL_POLICIES} - tested == set()


def test_policy_names_follow_service_resource_rule_and_name_a_section() -> None:
    for rule in RULES:
        assert rule.name.count("-") >= 2 and rule.name == rule.name.lower(), rule.name
        assert rule.policy.description.startswith(f"Runbook {rule.section}:"), rule.name


def test_thresholds_can_be_tightened_but_not_loosened(deployments: dict[str, Deployment]) -> None:
    dep = deployments["staging"].raw
    rule = next(r for r in RULES if r.name == "rds-instance-backup-retention")
    tight = run_rules(dep, rules=[rule], config={rule.name: {"minRetentionDays": 10}})
    assert any(f.status == "FAIL" and ">= 10" in f.message for f in tight)
    loose = run_rules(dep, rules=[rule], config={rule.name: {"minRetentionDays": 1}})
    assert all(f.status == "PASS" for f in loose)
    mutated = copy.deepcopy(dep)
    setting(RDS, "orchestrator", "backupRetentionPeriod", 5)(mutated)
    assert any(
        f.status == "FAIL" and ">= 7" in f.message
        for f in run_rules(mutated, rules=[rule], config={rule.name: {"minRetentionDays": 1}})
    )


def test_advisory_enforcement_does_not_fail_the_exit_code(
    deployments: dict[str, Deployment], tmp_path: Path
) -> None:
    dep = copy.deepcopy(deployments["staging"].raw)
    setting(RDS, "orchestrator", "copyTagsToSnapshot", False)(dep)
    path = tmp_path / "export.json"
    path.write_text(json.dumps(dep))
    assert main(["check", "--deployment", str(path)]) == 1
    config = tmp_path / "policy.json"
    config.write_text(json.dumps({"rds-instance-copy-tags-to-snapshot": {"enforcementLevel": "advisory"}}))
    assert main(["check", "--deployment", str(path), "--policy-config", str(config)]) == 0


def test_hand_written_stack_export_is_checked(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", "--deployment", str(FIXTURE), "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    failed = {f["check"] for f in report[str(FIXTURE)]["findings"] if f["status"] == "FAIL"}
    assert "rds-instance-backup-retention" in failed and "kms-key-rotation" in failed
    assert "s3-bucket-versioning" not in failed


def test_sarif_output_lists_failures(
    deployments: dict[str, Deployment], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["check", "--deployment", str(FIXTURE), "--sarif"]) == 1
    sarif = json.loads(capsys.readouterr().out)
    assert sarif["version"] == "2.1.0" and sarif["runs"][0]["results"]


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("not json", "expected JSON from `pulumi stack export`, found invalid JSON"),
        ('{"version": 3}', "expected a stack export with a `deployment` object, found no `deployment`"),
        ('{"deployment": {}}', "deployment.resources: expected a list of resources"),
        (
            '{"deployment": {"resources": [{"urn": "urn:pulumi:a::b::c::d"}]}}',
            "deployment.resources[0].type: expected a non-empty type string, found None",
        ),
    ],
)
def test_broken_deployment_is_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str, expected: str
) -> None:
    path = tmp_path / "broken.json"
    path.write_text(content)
    assert main(["check", "--deployment", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and expected in err, err


def test_missing_deployment_and_unknown_policy_config(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["check", "--deployment", str(tmp_path / "nope.json")]) == 2
    config = tmp_path / "c.json"
    config.write_text('{"no-such-policy": {}}')
    assert main(["check", "--deployment", str(FIXTURE), "--policy-config", str(config)]) == 2
    err = capsys.readouterr().err
    assert "no such file" in err and "no-such-policy: expected a policy name of the pack" in err
