"""backupctl verify / config / kms against moto (issue 5): zero, PASS, each FAIL, pagination, bad input.

The account is the one the program declares: tests/aws_account.py builds it from the staging (or prod)
preview export, so a check that disagrees with the program fails here (issue 10: verify applied SSE-KMS
to the SSE-S3 access-log bucket because the old hand-written fixture encrypted it with a CMK).

moto gaps, tested with hand-made data instead: AWS Backup recovery-point listing (moto answers 404 "Not
yet implemented"; verify reports a WARN and the weekly check runs on stubbed data), KMS
RotationPeriodInDays (moto drops it; the 730-day case uses a stubbed KMS wrapper), RDS
AwsBackupRecoveryPointArn (moto never sets it; the AWS Backup-managed retention runs on stubbed data).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from backupctl.cli import main
from backupctl.live.aws import Clients
from backupctl.live.kmscheck import MAX_ROTATION_PERIOD_DAYS, KeyValidation
from backupctl.live.verify import Observed, check_databases, check_keys, check_vault, gather, verify
from components.settings import KEY_ROTATION_PERIOD_DAYS
from tests.aws_account import SECRET_VALUES, Account, add_databases, build
from tests.conftest import Deployment

REGION = "eu-west-1"
MOTO_GAPS = ("Not yet implemented",)  # moto's own words for an API it lacks


@pytest.fixture
def account(aws: Any, staging: Deployment) -> Account:
    return build(aws, staging.raw)


def artifacts_rules(ia: int = 30, glacier: int = 90, expire: int = 180) -> list[dict[str, Any]]:
    return [
        {
            "ID": "artifacts-tiering",
            "Status": "Enabled",
            "Filter": {"Prefix": "artifacts/"},
            "Transitions": [
                {"Days": ia, "StorageClass": "STANDARD_IA"},
                {"Days": glacier, "StorageClass": "GLACIER"},
            ],
            "Expiration": {"Days": expire},
        }
    ]


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def run_json(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, Any]:
    code, out, err = run(capsys, *argv, "--json")
    assert out, err
    return code, json.loads(out)


def failed(report: dict[str, Any]) -> list[tuple[str, str]]:
    return [(f["check"], f["message"]) for f in report["findings"] if f["status"] == "FAIL"]


# ---- verify ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("stack_name", ["staging", "prod"])
def test_verify_passes_the_account_the_program_declares(
    aws: Any,
    deployments: dict[str, Deployment],
    stack_name: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    account = build(aws, deployments[stack_name].raw)
    code, report = run_json(capsys, "verify", "--outputs", str(account.write_outputs(tmp_path)))
    assert failed(report) == []
    assert code == 0
    checks = {f["check"] for f in report["findings"] if f["status"] == "PASS"}
    assert {
        "rds-backup-retention",
        "rds-pitr-window",
        "rds-recent-snapshot",
        "backup-vault-encryption",
        "s3-bucket-versioning",
        "s3-bucket-sse-kms",
        "s3-bucket-sse-s3",
        "s3-artifacts-lifecycle",
        "s3-evidence-object-lock",
        "s3-evidence-deep-archive",
        "kms-key-rotation",
        "scheduler-schedule",
        "scheduler-schedule-dead-letter",
        "config-recorder-recording",
    } <= checks
    if stack_name == "prod":  # the DR region's keys are verified in their own region
        dr = {f["resource"] for f in report["findings"] if f["check"] == "kms-key-rotation"}
        assert set(account.outputs["drKeyArns"].values()) <= dr
        locks = [f for f in report["findings"] if f["check"] == "backup-vault-lock"]
        assert [f["status"] for f in locks] == ["PASS"]
    warns = [f["message"] for f in report["findings"] if f["status"] == "WARN"]
    assert warns and all(any(gap in w for gap in MOTO_GAPS) for w in warns), warns


def test_verify_fails_an_access_log_bucket_encrypted_with_a_cmk(
    account: Account, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    logs = account.outputs["accessLogBucket"]
    account.client("s3").put_bucket_encryption(
        Bucket=logs,
        ServerSideEncryptionConfiguration={
            "Rules": [
                {
                    "ApplyServerSideEncryptionByDefault": {
                        "SSEAlgorithm": "aws:kms",
                        "KMSMasterKeyID": account.outputs["keyArns"]["storage"],
                    }
                }
            ]
        },
    )
    code, report = run_json(capsys, "verify", "--outputs", str(account.write_outputs(tmp_path)))
    assert code == 1
    assert failed(report) == [
        (
            "s3-bucket-sse-s3",
            f"access-log bucket `{logs}` default encryption is aws:kms; S3 delivers "
            "server access logs only to SSE-S3 (AES256) buckets",
        )
    ]


def test_verify_fails_without_a_recording_aws_config_recorder(
    account: Account, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    account.client("config").stop_configuration_recorder(ConfigurationRecorderName="default")
    code, report = run_json(capsys, "verify", "--outputs", str(account.write_outputs(tmp_path)))
    assert code == 1
    assert [c for c, m in failed(report)] == ["config-recorder-recording"]
    assert "Backup Audit Manager evaluates nothing without it" in failed(report)[0][1]


@pytest.mark.parametrize(
    ("retention", "status", "text"),
    [
        (7, "PASS", "managed by AWS Backup continuous backup (arn:aws:backup:rp)"),
        (3, "FAIL", "set the continuous rule's retention >= 7"),
    ],
)
def test_retention_managed_by_aws_backup_is_reported_as_such(retention: int, status: str, text: str) -> None:
    # moto never sets AwsBackupRecoveryPointArn: stubbed describe_db_instances data.
    instance = {
        "BackupRetentionPeriod": retention,
        "AwsBackupRecoveryPointArn": "arn:aws:backup:rp",
        "LatestRestorableTime": datetime.now(UTC),
    }
    seen = Observed(now=datetime.now(UTC), instances={"db": instance}, snapshots={"db": []})
    outputs = {
        "region": REGION,
        "databases": [{"identifier": "db", "criticality": "critical", "rpoMinutes": 15}],
    }
    (finding,) = [f for f in check_databases(outputs, seen) if f.check == "rds-backup-retention"]
    assert finding.status == status and text in finding.message, finding


def test_verify_with_nothing_deployed_fails_every_resource(
    aws: Any, staging: Deployment, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    outputs = build(aws, staging.raw).outputs
    # The same stack shape with names nothing in the account carries: a stack never deployed here.
    outputs["keyArns"] = {
        p: f"arn:aws:kms:{REGION}:123456789012:key/{i:08d}-0000-0000-0000-000000000000"
        for i, p in enumerate(outputs["keyArns"])
    }
    path = tmp_path / "outputs.json"
    path.write_text(json.dumps(outputs).replace("maestro-staging", "maestro-gone"))
    account_config = aws.client("config", region_name=REGION)
    account_config.stop_configuration_recorder(ConfigurationRecorderName="default")  # nothing set up
    code, report = run_json(capsys, "verify", "--outputs", str(path))
    assert code == 1
    assert report["summary"]["PASS"] == 0
    messages = " ".join(m for _, m in failed(report))
    for thing in ("database `maestro-gone-orchestrator`", "backup vault", "bucket `maestro-gone-artifacts-"):
        assert f"{thing}" in messages and "not found" in messages


def _retention(a: Account) -> None:
    a.client("rds").modify_db_instance(
        DBInstanceIdentifier="maestro-staging-orchestrator", BackupRetentionPeriod=3, ApplyImmediately=True
    )


def _versioning(a: Account) -> None:
    a.client("s3").put_bucket_versioning(
        Bucket=a.outputs["configBucket"], VersioningConfiguration={"Status": "Suspended"}
    )


def _lifecycle(a: Account) -> None:
    a.client("s3").put_bucket_lifecycle_configuration(
        Bucket=a.outputs["artifactsBucket"], LifecycleConfiguration={"Rules": artifacts_rules(glacier=60)}
    )


def _object_lock(a: Account) -> None:
    a.client("s3").put_object_lock_configuration(
        Bucket=a.outputs["evidenceBucket"],
        ObjectLockConfiguration={
            "ObjectLockEnabled": "Enabled",
            "Rule": {"DefaultRetention": {"Mode": "GOVERNANCE", "Days": 30}},
        },
    )


def _rotation(a: Account) -> None:
    a.client("kms").disable_key_rotation(KeyId=a.outputs["keyArns"]["storage"])


def _update_schedule(a: Account, state: str, drop_dead_letters: bool = False) -> None:
    scheduler = a.client("scheduler")
    current = scheduler.get_schedule(Name=a.outputs["configBackupSchedule"])
    target = current["Target"]
    if drop_dead_letters:
        target.pop("DeadLetterConfig")
    scheduler.update_schedule(
        Name=current["Name"],
        ScheduleExpression=current["ScheduleExpression"],
        FlexibleTimeWindow=current["FlexibleTimeWindow"],
        State=state,
        Target=target,
    )


def _schedule(a: Account) -> None:
    _update_schedule(a, "DISABLED")


def _dead_letters(a: Account) -> None:
    _update_schedule(a, "ENABLED", drop_dead_letters=True)


def _no_encryption(a: Account) -> None:
    a.client("s3").delete_bucket_encryption(Bucket=a.outputs["auditBucket"])


@pytest.mark.parametrize(
    ("mutate", "check", "text"),
    [
        (_retention, "rds-backup-retention", "keeps automated backups 3 days"),
        (_versioning, "s3-bucket-versioning", "versioning is Suspended"),
        (_lifecycle, "s3-artifacts-lifecycle", "'GLACIER': 60"),
        (_object_lock, "s3-evidence-object-lock", "GOVERNANCE 30 d"),
        (_rotation, "kms-key-rotation", "storage key rotation is off"),
        (_schedule, "scheduler-schedule", "is DISABLED"),
        (_dead_letters, "scheduler-schedule-dead-letter", "has no dead-letter queue"),
        (_no_encryption, "s3-bucket-sse-kms", "not SSE-KMS"),
    ],
)
def test_verify_fails_each_broken_rule(
    account: Account, tmp_path: Path, capsys: pytest.CaptureFixture[str], mutate: Any, check: str, text: str
) -> None:
    mutate(account)
    code, report = run_json(capsys, "verify", "--outputs", str(account.write_outputs(tmp_path)))
    assert code == 1
    assert [c for c, m in failed(report) if c == check and text in m], failed(report)
    assert len(failed(report)) == 1, failed(report)


def test_verify_pitr_lag_is_judged_against_each_databases_rpo(aws: Any, staging: Deployment) -> None:
    account = build(aws, staging.raw)  # orchestrator is critical (15 min), reporting standard (4 h)
    later = datetime.now(UTC) + timedelta(minutes=30)
    findings = verify(account.outputs, gather(account.outputs, Clients(aws), now=later))
    pitr = {f.resource: f for f in findings if f.check == "rds-pitr-window"}
    assert pitr["maestro-staging-orchestrator"].status == "FAIL"
    assert "critical RPO is 15 min" in pitr["maestro-staging-orchestrator"].message
    assert pitr["maestro-staging-reporting"].status == "PASS"


def test_verify_fails_when_the_newest_snapshot_is_older_than_26_hours(account: Account) -> None:
    later = datetime.now(UTC) + timedelta(hours=27)
    findings = verify(account.outputs, gather(account.outputs, Clients(account.session), now=later))
    snap = [f for f in findings if f.check == "rds-recent-snapshot"]
    assert snap and snap[0].status == "FAIL" and "limit 26 h" in snap[0].message


def test_verify_pages_through_many_databases_and_snapshots(aws: Any, staging: Deployment) -> None:
    account = build(aws, staging.raw)
    list(add_databases(account, 10))
    rds = account.client("rds")
    for i in range(120):  # DescribeDBSnapshots pages at 100
        rds.create_db_snapshot(
            DBInstanceIdentifier="maestro-staging-orchestrator", DBSnapshotIdentifier=f"manual-{i}"
        )
    findings = verify(account.outputs, gather(account.outputs, Clients(aws)))
    snaps = {f.resource: f for f in findings if f.check == "rds-recent-snapshot"}
    assert len(snaps) == 12
    assert "(121 kept)" in snaps["maestro-staging-orchestrator"].message
    assert all(f.status == "PASS" for f in snaps.values())


def _vault_outputs(env: str = "staging") -> dict[str, Any]:
    return {"vaultName": "v", "environment": env, "keyArns": {"backup": "arn:k"}}


def _point(rule: str, days: int, age_days: float) -> dict[str, Any]:
    return {
        "RecoveryPointArn": f"arn:rp:{rule}:{days}:{age_days}",
        "CreatedBy": {"BackupRuleName": rule},
        "Lifecycle": {"DeleteAfterDays": days},
        "CreationDate": datetime.now(UTC) - timedelta(days=age_days),
        "Status": "COMPLETED",
    }


@pytest.mark.parametrize(
    ("points", "status", "text"),
    [
        ([_point("daily", 7, 0.5), _point("weekly", 30, 3)], "PASS", "newest is within 8 days"),
        ([_point("daily", 7, 0.5), _point("weekly", 30, 12)], "FAIL", "none from the last 8 days"),
        ([_point("weekly", 14, 2)], "FAIL", "kept 14 days"),
        ([], "FAIL", "holds 0 weekly"),
    ],
)
def test_weekly_recovery_points_on_stubbed_listing(
    points: list[dict[str, Any]], status: str, text: str
) -> None:
    seen = Observed(now=datetime.now(UTC), vault={"EncryptionKeyArn": "arn:k"}, recovery_points=points)
    weekly = [f for f in check_vault(_vault_outputs(), seen) if f.check == "backup-weekly-recovery-points"]
    assert any(f.status == status and text in f.message for f in weekly), weekly


def test_prod_vault_without_lock_fails() -> None:
    seen = Observed(now=datetime.now(UTC), vault={"EncryptionKeyArn": "arn:k", "Locked": False})
    lock = [f for f in check_vault(_vault_outputs("prod"), seen) if f.check == "backup-vault-lock"]
    assert lock and lock[0].status == "FAIL" and "vault lock" in lock[0].message


def test_rotation_period_of_730_days_fails_on_stubbed_status() -> None:
    seen = Observed(
        now=datetime.now(UTC),
        keys={"rds": {"KeyId": "k"}},
        rotation={"rds": {"KeyRotationEnabled": True, "RotationPeriodInDays": 730}},
    )
    findings = check_keys({"keyArns": {"rds": "arn:aws:kms:eu-west-1:1:key/k"}}, seen)
    assert findings[0].status == "FAIL" and "every 730 d" in findings[0].message


def test_live_rotation_limit_matches_the_program() -> None:
    assert MAX_ROTATION_PERIOD_DAYS == KEY_ROTATION_PERIOD_DAYS


# ---- config backup / list / restore ------------------------------------------------------------------


def _config_objects(account: Account) -> dict[str, bytes]:
    s3 = account.client("s3")
    bucket = account.outputs["configBucket"]
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])]
    return {k: s3.get_object(Bucket=bucket, Key=k)["Body"].read() for k in keys}


def test_config_backup_writes_snapshot_manifest_and_audit_without_any_secret_value(
    account: Account, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    outputs = str(account.write_outputs(tmp_path))
    audit_log = tmp_path / "audit.jsonl"
    code, report = run_json(capsys, "config", "backup", "--outputs", outputs, "--audit-log", str(audit_log))
    assert code == 0, report
    objects = _config_objects(account)
    kinds = {k.split("/")[2] if k.count("/") > 2 else k for k in objects}
    assert "audit" in kinds
    assert any(k.endswith(".manifest.json") for k in objects)
    for key, body in objects.items():
        for value in SECRET_VALUES:
            assert value.encode() not in body, f"secret value found in s3 object {key}"
    record = json.loads(audit_log.read_text().splitlines()[-1])
    assert record["command"] == "config backup" and record["result"] == "pass" and record["who"]
    for value in SECRET_VALUES:
        assert value not in audit_log.read_text()
    head = account.client("s3").head_object(Bucket=account.outputs["configBucket"], Key=report["key"])
    assert head["ServerSideEncryption"] == "aws:kms"
    assert head["SSEKMSKeyId"] == account.outputs["keyArns"]["config"]


def test_config_restore_round_trip_after_deleting_and_altering_parameters(
    account: Account, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    outputs = str(account.write_outputs(tmp_path))
    assert run(capsys, "config", "backup", "--outputs", outputs)[0] == 0
    ssm = account.client("ssm")
    ssm.delete_parameter(Name="/maestro/policies/p03")
    ssm.put_parameter(Name="/maestro/routing-pins/eu", Value="eu-west-1c", Type="String", Overwrite=True)
    ssm.put_parameter(Name="/maestro/policies/new", Value="added-later", Type="String")
    ssm.delete_parameter(Name="/maestro/routing-pins/token")  # SecureString: the value was never stored

    code, plan = run_json(capsys, "config", "restore", "--outputs", outputs, "--dry-run")
    assert code == 0
    actions = {(c["action"], c["name"]) for c in plan["changes"]}
    assert {
        ("add", "/maestro/policies/p03"),
        ("change", "/maestro/routing-pins/eu"),
        ("keep", "/maestro/policies/new"),
        ("needs-value", "/maestro/routing-pins/token"),
    } <= actions
    assert ssm.get_parameter(Name="/maestro/routing-pins/eu")["Parameter"]["Value"] == "eu-west-1c"

    code, out, _ = run(capsys, "config", "restore", "--outputs", outputs)
    assert code == 0
    assert "re-supply" in out and "/maestro/routing-pins/token" in out
    assert ssm.get_parameter(Name="/maestro/policies/p03")["Parameter"]["Value"] == "allow-3"
    assert ssm.get_parameter(Name="/maestro/routing-pins/eu")["Parameter"]["Value"] == "eu-west-1a"
    assert ssm.get_parameter(Name="/maestro/policies/new")["Parameter"]["Value"] == "added-later"

    assert run(capsys, "config", "restore", "--outputs", outputs, "--prune")[0] == 0
    names = {p["Name"] for p in ssm.get_parameters_by_path(Path="/maestro/policies")["Parameters"]}
    assert "/maestro/policies/new" not in names


def test_config_restore_puts_secret_tags_back_but_never_values(
    account: Account, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    outputs = str(account.write_outputs(tmp_path))
    run(capsys, "config", "backup", "--outputs", outputs)
    sm = account.client("secretsmanager")
    sm.untag_resource(SecretId="maestro/db-password", TagKeys=["owner"])
    sm.tag_resource(SecretId="maestro/db-password", Tags=[{"Key": "stray", "Value": "x"}])
    code, out, _ = run(capsys, "config", "restore", "--outputs", outputs)
    assert code == 0 and "maestro/db-password" in out
    tags = {t["Key"]: t["Value"] for t in sm.describe_secret(SecretId="maestro/db-password")["Tags"]}
    assert tags == {"owner": "sre"}
    assert sm.get_secret_value(SecretId="maestro/db-password")["SecretString"] == SECRET_VALUES[0]


def test_config_restore_refuses_a_tampered_snapshot(
    account: Account, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    outputs = str(account.write_outputs(tmp_path))
    _, report = run_json(capsys, "config", "backup", "--outputs", outputs)
    s3 = account.client("s3")
    bucket = account.outputs["configBucket"]
    body = s3.get_object(Bucket=bucket, Key=report["key"])["Body"].read()
    s3.put_object(Bucket=bucket, Key=report["key"], Body=body.replace(b"allow-1", b"allow-X"))
    ssm = account.client("ssm")
    ssm.put_parameter(Name="/maestro/routing-pins/eu", Value="changed", Type="String", Overwrite=True)
    log = tmp_path / "audit.jsonl"
    code, _, err = run(capsys, "config", "restore", "--outputs", outputs, "--audit-log", str(log))
    assert code == 2
    assert "does not match the manifest" in err and len(err.strip().splitlines()) == 1
    assert ssm.get_parameter(Name="/maestro/routing-pins/eu")["Parameter"]["Value"] == "changed"
    refused = json.loads(log.read_text().splitlines()[-1])  # runbook 4: the refusal is audited too
    assert refused["command"] == "config restore" and refused["result"] == "refused"
    assert "does not match the manifest" in refused["reason"] and refused["stack"] == "staging"


def test_config_list_and_restore_at_a_date(
    account: Account, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    outputs = str(account.write_outputs(tmp_path))
    run(capsys, "config", "backup", "--outputs", outputs)
    code, listing = run_json(capsys, "config", "list", "--outputs", outputs)
    assert code == 0 and len(listing) == 1 and listing[0]["key"].startswith("config/staging/")
    code, _, err = run(capsys, "config", "restore", "--outputs", outputs, "--at", "2020-01-01", "--dry-run")
    assert code == 2 and "a snapshot at or before that time" in err
    code, _, err = run(capsys, "config", "restore", "--outputs", outputs, "--at", "yesterday")
    assert code == 2 and "--at: expected a date or time" in err


def test_config_restore_on_prod_needs_confirmation_and_never_prunes(
    aws: Any, prod: Deployment, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    account = build(aws, prod.raw)
    outputs = str(account.write_outputs(tmp_path))
    run(capsys, "config", "backup", "--outputs", outputs)
    log = tmp_path / "audit.jsonl"
    code, _, err = run(capsys, "config", "restore", "--outputs", outputs, "--audit-log", str(log))
    assert code == 2 and "--confirm prod" in err
    code, _, err = run(capsys, "config", "restore", "--outputs", outputs, "--prune", "--confirm", "prod")
    assert code == 2 and "--prune is refused on prod" in err
    refusal = json.loads(log.read_text())
    assert (refusal["result"], refusal["stack"]) == ("refused", "prod") and "--confirm prod" in refusal[
        "reason"
    ]
    assert run(capsys, "config", "restore", "--outputs", outputs, "--confirm", "prod")[0] == 0


# ---- kms ---------------------------------------------------------------------------------------------


def test_kms_validate_creates_the_canary_then_decrypts_it_after_rotate_now(
    account: Account, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    outputs = str(account.write_outputs(tmp_path))
    code, first = run_json(capsys, "kms", "validate", "--outputs", outputs)
    assert code == 0, failed(first)
    created = [f for f in first["findings"] if f["check"] == "kms-canary-decrypt"]
    assert len(created) == 5 and all("canary created" in f["message"] for f in created)

    code, rotated = run_json(capsys, "kms", "rotate-now", "--outputs", outputs, "--key", "rds")
    assert code == 0, failed(rotated)
    canary = [f for f in rotated["findings"] if f["check"] == "kms-canary-decrypt"]
    assert len(canary) == 1 and "decrypts after 1 rotation(s)" in canary[0]["message"]
    history = [f for f in rotated["findings"] if f["check"] == "kms-rotation-history"]
    assert "1 rotation(s)" in history[0]["message"]
    audits = [k for k in _config_objects(account) if "/audit/" in k]
    assert any(k.endswith("kms-rotate-now.json") for k in audits)


def test_kms_validate_fails_when_rotation_is_off(
    account: Account, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    account.client("kms").disable_key_rotation(KeyId=account.outputs["keyArns"]["config"])
    code, report = run_json(capsys, "kms", "validate", "--outputs", str(account.write_outputs(tmp_path)))
    assert code == 1
    assert failed(report) == [("kms-key-rotation", failed(report)[0][1])]
    assert "config key: rotation off" in failed(report)[0][1]


def test_kms_validate_fails_when_the_canary_no_longer_decrypts(
    account: Account, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    outputs = str(account.write_outputs(tmp_path))
    run(capsys, "kms", "validate", "--outputs", outputs, "--key", "logs")
    s3 = account.client("s3")
    bucket = account.outputs["configBucket"]
    key = next(k for k in _config_objects(account) if "/kms-canary/" in k)
    doc = json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
    doc["ciphertext"] = "bm90LWEtY2lwaGVydGV4dA=="
    s3.put_object(Bucket=bucket, Key=key, Body=json.dumps(doc).encode())
    code, report = run_json(capsys, "kms", "validate", "--outputs", outputs, "--key", "logs")
    assert code == 1
    assert [c for c, m in failed(report) if c == "kms-canary-decrypt" and "no longer decrypts" in m]


class _StubKms:
    def __init__(self, period: int) -> None:
        self.period = period

    def describe(self, key: str) -> dict[str, Any]:
        return {
            "KeyId": "k",
            "KeyState": "Enabled",
            "KeyManager": "CUSTOMER",
            "CreationDate": datetime.now(UTC),
        }

    def rotation(self, key: str) -> dict[str, Any]:
        return {"KeyRotationEnabled": True, "RotationPeriodInDays": self.period}

    def rotations(self, key: str) -> list[dict[str, Any]]:
        return []

    def encrypt(self, key: str, plaintext: bytes, context: dict[str, str]) -> bytes:
        return plaintext[::-1]

    def decrypt(self, key: str, blob: bytes, context: dict[str, str]) -> bytes:
        return blob[::-1]


class _StubS3:
    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}

    def get_json(self, bucket: str, key: str) -> Any:
        return json.loads(self.objects[key]) if key in self.objects else None

    def put_bytes(self, bucket: str, key: str, body: bytes, **_: Any) -> None:
        self.objects[key] = body


def test_kms_rotation_period_730_fails_with_stubbed_kms() -> None:
    # moto drops RotationPeriodInDays, so the period check runs on a stubbed KMS wrapper.
    findings = KeyValidation(
        _StubKms(730),  # type: ignore[arg-type]
        _StubS3(),  # type: ignore[arg-type]
        environment="staging",
        bucket="b",
        config_key_arn=None,
    ).run({"rds": "arn:aws:kms:eu-west-1:1:key/k"})
    rotation = [f for f in findings if f.check == "kms-key-rotation"]
    assert rotation[0].status == "FAIL" and "every 730 d" in rotation[0].message
    assert [f.check for f in findings if f.status == "FAIL"] == ["kms-key-rotation"]


# The monthly handler's own tests run under its IAM role: tests/test_handlers_iam.py.


# ---- bad input ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "argv", "text"),
    [
        (
            None,
            ("verify", "--outputs", "{dir}/missing.json"),
            "missing.json: expected a saved `pulumi stack output --json` file, found no such file",
        ),
        ("{}", ("verify", "--outputs", "{file}"), "a stack without outputs"),
        ("not json", ("kms", "validate", "--outputs", "{file}"), "invalid JSON"),
        ('{"environment": "staging"}', ("verify", "--outputs", "{file}"), "output `region`"),
        (
            '{"environment": "staging", "region": "mars-1", "configBucket": "b", "keyArns": {}}',
            ("kms", "validate", "--outputs", "{file}"),
            "output `keyArns`",
        ),
        (
            "STAGING",
            ("verify", "--outputs", "{file}", "--region", "us-east-1"),
            "--region: expected the stack's",
        ),
        ("STAGING", ("verify", "--outputs", "{file}", "--stack", "prod"), "expected the stack prod"),
        (None, ("verify", "--stack", "staging"), "no pulumi CLI on PATH"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    content: str | None,
    argv: tuple[str, ...],
    text: str,
) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    file = tmp_path / "outputs.json"
    if content == "STAGING":
        content = json.dumps(
            {
                "environment": "staging",
                "region": REGION,
                "databases": [
                    {"identifier": "x", "criticality": "standard", "rpoMinutes": 240, "rtoMinutes": 1}
                ],
                "vaultName": "v",
                "keyArns": {"rds": "arn"},
                "artifactsBucket": "a",
                "evidenceBucket": "e",
                "configBucket": "c",
                "evidenceLockDays": 90,
            }
        )
    if content is not None:
        file.write_text(content)
    code, out, err = run(capsys, *(a.format(dir=tmp_path, file=file) for a in argv))
    assert code == 2
    assert out == ""
    assert len(err.strip().splitlines()) == 1 and err.startswith("backupctl: error: "), err
    assert text in err


@pytest.mark.parametrize(("retention", "text"), [(1, "keeps automated backups 1 day;"), (0, "0 days;")])
def test_retention_counts_read_as_english(retention: int, text: str) -> None:
    from backupctl.live.verify import _retention

    ok, message = _retention("maestro-staging-orders", {"BackupRetentionPeriod": retention})
    assert not ok and text in message, message
