"""Live verification of a deployed account against the runbook (sections 1.1, 1.2, 1.3, 3).

``gather`` reads the account through the thin wrappers into a plain ``Observed`` record; the check
functions take that record and the stack outputs and return findings, so every branch is testable with
hand-made data where moto lacks an API (AWS Backup recovery-point listing).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from botocore.exceptions import ClientError

from backupctl.findings import Finding, days
from backupctl.live.aws import (
    S3,
    Backup,
    Clients,
    ConfigService,
    Kms,
    Rds,
    Scheduler,
    as_utc,
    error_code,
)
from backupctl.live.kmscheck import MAX_ROTATION_PERIOD_DAYS, rotation_period
from backupctl.live.outputs import key_arns
from components.settings import (
    ARTIFACTS_EXPIRE_DAYS,
    ARTIFACTS_GLACIER_DAYS,
    ARTIFACTS_IA_DAYS,
    MIN_EVIDENCE_LOCK_DAYS,
    MIN_SNAPSHOT_RETENTION_DAYS,
    MIN_WEEKLY_RETENTION_DAYS,
)

SNAPSHOT_MAX_AGE = timedelta(hours=26)  # daily snapshot plus the backup window's slack
WEEKLY_MAX_AGE = timedelta(days=8)  # one weekly recovery point per week, plus a day of slack
BUCKET_OUTPUTS = ("artifactsBucket", "evidenceBucket", "configBucket", "auditBucket", "accessLogBucket")
# S3 server access logs can only be delivered to a bucket whose default encryption is SSE-S3: "Default
# server-side encryption with AWS Key Management Service (AWS KMS) keys (SSE-KMS) is not supported."
# https://docs.aws.amazon.com/AmazonS3/latest/userguide/enable-server-access-logging.html
SSE_S3_BUCKETS = ("accessLogBucket",)
# What Backup Audit Manager's controls need AWS Config to record (or allSupported):
# https://docs.aws.amazon.com/aws-backup/latest/devguide/turning-on-resource-tracking.html
RECORDED_TYPES = (
    "AWS::Backup::BackupPlan",
    "AWS::Backup::BackupSelection",
    "AWS::Backup::BackupVault",
    "AWS::Backup::RecoveryPoint",
    "AWS::RDS::DBInstance",
)
SCHEDULE_OUTPUTS = ("configBackupSchedule", "kmsValidationSchedule")
REQUIRED_OUTPUTS = (
    "environment",
    "region",
    "databases",
    "vaultName",
    "keyArns",
    "artifactsBucket",
    "evidenceBucket",
    "configBucket",
    "evidenceLockDays",
)


@dataclass
class BucketState:
    exists: bool
    versioning: str | None = None
    encryption: list[dict[str, Any]] = field(default_factory=list)
    lifecycle: list[dict[str, Any]] = field(default_factory=list)
    object_lock: dict[str, Any] | None = None


@dataclass
class Observed:
    now: datetime
    instances: dict[str, dict[str, Any] | None] = field(default_factory=dict)
    snapshots: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    vault: dict[str, Any] | None = None
    recovery_points: list[dict[str, Any]] | None = None  # None: the listing failed (reason in problems)
    buckets: dict[str, BucketState] = field(default_factory=dict)
    keys: dict[str, dict[str, Any] | None] = field(default_factory=dict)
    rotation: dict[str, dict[str, Any]] = field(default_factory=dict)
    schedules: dict[str, dict[str, Any] | None] = field(default_factory=dict)
    recorders: list[dict[str, Any]] | None = None  # None: AWS Config could not be read (see problems)
    problems: list[str] = field(default_factory=list)


def gather(outputs: dict[str, Any], clients: Clients, now: datetime | None = None) -> Observed:
    region = str(outputs["region"])
    seen = Observed(now=now or datetime.now(UTC))
    rds = Rds(clients, region)
    for db in outputs["databases"]:
        ident = str(db["identifier"])
        seen.instances[ident] = rds.instance(ident)
        seen.snapshots[ident] = rds.snapshots(ident) if seen.instances[ident] else []
    backup = Backup(clients, region)
    seen.vault = backup.vault(str(outputs["vaultName"]))
    if seen.vault is not None:
        try:
            seen.recovery_points = backup.recovery_points(str(outputs["vaultName"]))
        except ClientError as exc:
            seen.problems.append(
                f"could not list recovery points in vault `{outputs['vaultName']}` ({error_code(exc)}: "
                f"{exc.response.get('Error', {}).get('Message', '')}); weekly retention not checked"
            )
    s3 = S3(clients, region)
    for key in BUCKET_OUTPUTS:
        name = outputs.get(key)
        if not name:
            continue
        if not s3.exists(str(name)):
            seen.buckets[key] = BucketState(exists=False)
            continue
        seen.buckets[key] = BucketState(
            exists=True,
            versioning=s3.versioning(str(name)),
            encryption=s3.encryption(str(name)),
            lifecycle=s3.lifecycle(str(name)) if key in ("artifactsBucket", "evidenceBucket") else [],
            object_lock=s3.object_lock(str(name)) if key == "evidenceBucket" else None,
        )
    kms = Kms(clients, region)  # a DR key's ARN sends its calls to the DR region
    for purpose, arn in sorted(key_arns(outputs).items()):
        seen.keys[purpose] = kms.describe(str(arn))
        if seen.keys[purpose] is not None:
            seen.rotation[purpose] = kms.rotation(str(arn))
    scheduler = Scheduler(clients, region)
    for key in SCHEDULE_OUTPUTS:
        if outputs.get(key):
            seen.schedules[key] = scheduler.schedule(str(outputs[key]))
    try:
        seen.recorders = ConfigService(clients, region).recorders()
    except ClientError as exc:
        seen.problems.append(
            f"could not read AWS Config recorders ({error_code(exc)}); recording not checked"
        )
    return seen


def _age(now: datetime, then: datetime) -> str:
    minutes = max(0, int((now - then).total_seconds() // 60))  # clocks may disagree by seconds
    return f"{minutes} min" if minutes < 120 else f"{minutes / 60:.1f} h"


def check_databases(outputs: dict[str, Any], seen: Observed) -> list[Finding]:
    findings: list[Finding] = []
    for db in outputs["databases"]:
        ident = str(db["identifier"])
        instance = seen.instances.get(ident)

        def add(check: str, ok: bool, message: str, _ident: str = ident) -> None:
            findings.append(Finding.judge(ok, "1.1", check, _ident, message))

        if instance is None:
            add("rds-instance-exists", False, f"database `{ident}` was not found in {outputs['region']}")
            continue
        add("rds-backup-retention", *_retention(ident, instance))
        rpo = timedelta(minutes=int(db["rpoMinutes"]))
        latest = as_utc(instance.get("LatestRestorableTime"))
        if latest is None:
            add(
                "rds-pitr-window",
                False,
                f"database `{ident}` has no latest restorable time: point-in-time recovery is off",
            )
        else:
            add(
                "rds-pitr-window",
                seen.now - latest <= rpo,
                f"database `{ident}` can be restored to {_age(seen.now, latest)} ago; its "
                f"{db['criticality']} RPO is {int(db['rpoMinutes'])} min",
            )
        made = [
            t
            for s in seen.snapshots.get(ident, [])
            if s.get("Status", "available") == "available"
            and (t := as_utc(s.get("SnapshotCreateTime"))) is not None
        ]
        if not made:
            add("rds-recent-snapshot", False, f"database `{ident}` has no available snapshot yet")
        else:
            newest = max(made)
            add(
                "rds-recent-snapshot",
                seen.now - newest <= SNAPSHOT_MAX_AGE,
                f"database `{ident}` newest snapshot is {_age(seen.now, newest)} old "
                f"({len(made)} kept); runbook 1.1 takes one daily (limit 26 h)",
            )
    return findings


def _retention(ident: str, instance: dict[str, Any]) -> tuple[bool, str]:
    """AWS Backup continuous backup takes over an instance's automated-backup retention and window
    (https://docs.aws.amazon.com/aws-backup/latest/devguide/point-in-time-recovery.html); RDS then names the
    recovery point in ``AwsBackupRecoveryPointArn``, and the retention is the continuous rule's."""
    retention = int(instance.get("BackupRetentionPeriod", 0))
    managed = instance.get("AwsBackupRecoveryPointArn")
    ok = retention >= MIN_SNAPSHOT_RETENTION_DAYS
    if managed:
        return ok, (
            f"database `{ident}` keeps automated backups {days(retention)}, managed by AWS Backup continuous "
            f"backup ({managed})"
            + ("" if ok else f"; set the continuous rule's retention >= {MIN_SNAPSHOT_RETENTION_DAYS} (1.1)")
        )
    return ok, (
        f"database `{ident}` keeps automated backups {days(retention)}; runbook 1.1 requires >= "
        f"{MIN_SNAPSHOT_RETENTION_DAYS}"
    )


def check_vault(outputs: dict[str, Any], seen: Observed) -> list[Finding]:
    name = str(outputs["vaultName"])
    vault = seen.vault
    if vault is None:
        return [
            Finding(
                "FAIL",
                "1.1",
                "backup-vault",
                name,
                f"backup vault `{name}` was not found (or this identity may not describe it)",
            )
        ]
    findings: list[Finding] = []
    key = vault.get("EncryptionKeyArn")
    expected = outputs["keyArns"].get("backup")
    findings.append(
        Finding.judge(
            key and (not expected or key == expected),
            "1.1",
            "backup-vault-encryption",
            name,
            f"vault `{name}` is encrypted with the stack's backup CMK"
            if key and (not expected or key == expected)
            else f"vault `{name}` is encrypted with {key or 'no key'}; use the stack's backup CMK {expected}",
        )
    )
    if outputs["environment"] == "prod":
        locked = bool(vault.get("Locked"))
        findings.append(
            Finding.judge(
                locked,
                "1.1",
                "backup-vault-lock",
                name,
                f"vault `{name}` lock is {'on' if locked else 'off'}"
                f"{'' if locked else '; prod vaults need a vault lock so recovery points cannot be deleted'}"
                f" (min retention {vault.get('MinRetentionDays', 'unset')} d)",
            )
        )
    if seen.recovery_points is None:
        return findings
    weekly = [
        p
        for p in seen.recovery_points
        if "weekly" in str(p.get("CreatedBy", {}).get("BackupRuleName", ""))
        and p.get("Status", "COMPLETED") == "COMPLETED"
    ]
    short = [
        p for p in weekly if int(p.get("Lifecycle", {}).get("DeleteAfterDays", 0)) < MIN_WEEKLY_RETENTION_DAYS
    ]
    recent = [p for p in weekly if (t := as_utc(p.get("CreationDate"))) and seen.now - t <= WEEKLY_MAX_AGE]
    if short:
        findings.append(
            Finding(
                "FAIL",
                "1.1",
                "backup-weekly-recovery-points",
                str(short[0].get("RecoveryPointArn")),
                f"{len(short)} weekly recovery point(s) in `{name}` are kept "
                f"{days(short[0].get('Lifecycle', {}).get('DeleteAfterDays', 'no'))}; runbook 1.1 keeps "
                f"weekly backups >= {MIN_WEEKLY_RETENTION_DAYS}",
            )
        )
    findings.append(
        Finding.judge(
            recent,
            "1.1",
            "backup-weekly-recovery-points",
            name,
            f"vault `{name}` holds {len(weekly)} weekly recovery point(s) of {len(seen.recovery_points)}; "
            + (
                "the newest is within 8 days"
                if recent
                else "none from the last 8 days: check the weekly rule and failed backup jobs"
            ),
        )
    )
    return findings


def _sse_kms(rules: list[dict[str, Any]]) -> bool:
    return any(
        r.get("ApplyServerSideEncryptionByDefault", {}).get("SSEAlgorithm") in ("aws:kms", "aws:kms:dsse")
        for r in rules
    )


def _encryption(output: str, name: str, state: BucketState) -> Finding:
    if output in SSE_S3_BUCKETS:
        algorithms = [
            r.get("ApplyServerSideEncryptionByDefault", {}).get("SSEAlgorithm") for r in state.encryption
        ]
        return Finding.judge(
            algorithms == ["AES256"],
            "1.2",
            "s3-bucket-sse-s3",
            name,
            f"access-log bucket `{name}` default encryption is {', '.join(map(str, algorithms)) or 'none'}; "
            "S3 delivers server access logs only to SSE-S3 (AES256) buckets",
        )
    return Finding.judge(
        _sse_kms(state.encryption),
        "1.2",
        "s3-bucket-sse-kms",
        name,
        f"bucket `{name}` default encryption is "
        f"{'SSE-KMS' if _sse_kms(state.encryption) else 'not SSE-KMS'}; use the stack's storage CMK",
    )


def _transitions(rule: dict[str, Any]) -> dict[str, int]:
    return {t.get("StorageClass", ""): int(t.get("Days", -1)) for t in rule.get("Transitions", [])}


def _prefix(rule: dict[str, Any]) -> str:
    flt = rule.get("Filter", {})
    return str(flt.get("Prefix", flt.get("And", {}).get("Prefix", rule.get("Prefix", ""))))


def check_buckets(outputs: dict[str, Any], seen: Observed) -> list[Finding]:
    findings: list[Finding] = []
    for key, state in seen.buckets.items():
        name = str(outputs[key])
        if not state.exists:
            findings.append(
                Finding("FAIL", "1.2", "s3-bucket-exists", name, f"bucket `{name}` was not found")
            )
            continue
        findings.append(
            Finding.judge(
                state.versioning == "Enabled",
                "1.2",
                "s3-bucket-versioning",
                name,
                f"bucket `{name}` versioning is {state.versioning or 'never enabled'}; "
                "the runbook needs Enabled",
            )
        )
        findings.append(_encryption(key, name, state))
    artifacts = seen.buckets.get("artifactsBucket")
    if artifacts and artifacts.exists:
        name = str(outputs["artifactsBucket"])
        wanted = {"STANDARD_IA": ARTIFACTS_IA_DAYS, "GLACIER": ARTIFACTS_GLACIER_DAYS}
        rules = [
            r
            for r in artifacts.lifecycle
            if r.get("Status") == "Enabled" and _prefix(r).startswith("artifacts")
        ]
        ok = any(
            _transitions(r) == wanted
            and int(r.get("Expiration", {}).get("Days", -1)) == ARTIFACTS_EXPIRE_DAYS
            for r in rules
        )
        seen_text = (
            "; ".join(f"{_transitions(r)} expire {r.get('Expiration', {}).get('Days')}" for r in rules)
            or "none"
        )
        findings.append(
            Finding.judge(
                ok,
                "1.2",
                "s3-artifacts-lifecycle",
                name,
                f"bucket `{name}` artifacts/ lifecycle is {seen_text}; runbook 1.2 requires STANDARD_IA at "
                f"{ARTIFACTS_IA_DAYS} d, GLACIER at {ARTIFACTS_GLACIER_DAYS} d, "
                f"expiry at {ARTIFACTS_EXPIRE_DAYS} d",
            )
        )
    evidence = seen.buckets.get("evidenceBucket")
    if evidence and evidence.exists:
        findings.extend(_check_evidence(outputs, evidence))
    return findings


def _check_evidence(outputs: dict[str, Any], state: BucketState) -> list[Finding]:
    name = str(outputs["evidenceBucket"])
    lock = state.object_lock or {}
    retention = lock.get("Rule", {}).get("DefaultRetention", {})
    days = int(retention.get("Days", 0)) or int(retention.get("Years", 0)) * 365
    mode = retention.get("Mode")
    floor = max(MIN_EVIDENCE_LOCK_DAYS, int(outputs.get("evidenceLockDays") or 0))
    in_mode = " in COMPLIANCE mode" if outputs["environment"] == "prod" else ""
    mode_ok = mode == "COMPLIANCE" or (outputs["environment"] != "prod" and mode == "GOVERNANCE")
    ok = lock.get("ObjectLockEnabled") == "Enabled" and days >= floor and mode_ok
    findings = [
        Finding.judge(
            ok,
            "1.2",
            "s3-evidence-object-lock",
            name,
            f"bucket `{name}` Object Lock default retention is {mode or 'off'} {days} d; "
            f"runbook 1.2 requires >= {floor} d{in_mode}",
        )
    ]
    archive = [
        d
        for r in state.lifecycle
        if r.get("Status") == "Enabled"
        for c, d in _transitions(r).items()
        if c == "DEEP_ARCHIVE"
    ]
    findings.append(
        Finding.judge(
            archive and min(archive) >= days,
            "1.2",
            "s3-evidence-deep-archive",
            name,
            f"bucket `{name}` moves evidence to DEEP_ARCHIVE after {min(archive) if archive else 'never'} d; "
            f"runbook 1.2 archives once the {days} d lock ends",
        )
    )
    return findings


def check_keys(outputs: dict[str, Any], seen: Observed) -> list[Finding]:
    findings: list[Finding] = []
    arns = key_arns(outputs)
    for purpose, meta in seen.keys.items():
        arn = arns[purpose]
        if meta is None:
            findings.append(
                Finding("FAIL", "3", "kms-key-rotation", arn, f"{purpose} key {arn} was not found")
            )
            continue
        status = seen.rotation.get(purpose, {})
        period, note = rotation_period(status)
        ok = bool(status.get("KeyRotationEnabled")) and period <= MAX_ROTATION_PERIOD_DAYS
        findings.append(
            Finding.judge(
                ok,
                "3",
                "kms-key-rotation",
                arn,
                f"{purpose} key rotation is {'on' if status.get('KeyRotationEnabled') else 'off'}, every "
                f"{period} d{note}; runbook 3 rotates CMKs at least every {MAX_ROTATION_PERIOD_DAYS} d",
            )
        )
    return findings


def check_schedules(outputs: dict[str, Any], seen: Observed) -> list[Finding]:
    findings: list[Finding] = []
    for key, schedule in seen.schedules.items():
        name = str(outputs[key])
        section = "1.3" if key == "configBackupSchedule" else "3"
        if schedule is None:
            findings.append(
                Finding("FAIL", section, "scheduler-schedule", name, f"schedule `{name}` not found")
            )
            continue
        state = schedule.get("State", "ENABLED")
        findings.append(
            Finding.judge(
                state == "ENABLED",
                section,
                "scheduler-schedule",
                name,
                f"schedule `{name}` ({schedule.get('ScheduleExpression')}) is {state}",
            )
        )
        dlq = schedule.get("Target", {}).get("DeadLetterConfig", {}).get("Arn")
        findings.append(
            Finding.judge(
                dlq,
                section,
                "scheduler-schedule-dead-letter",
                name,
                f"schedule `{name}` dead-letters undeliverable events to {dlq}"
                if dlq
                else f"schedule `{name}` has no dead-letter queue: a failed invocation makes no sound",
            )
        )
    return findings


def check_config_recording(outputs: dict[str, Any], seen: Observed) -> list[Finding]:
    """Backup Audit Manager's prerequisite (README "Before the first `pulumi up`")."""
    if seen.recorders is None:
        return []
    where = f"AWS Config in {outputs['region']}"

    def covers(recorder: dict[str, Any]) -> bool:
        group = recorder.get("recordingGroup", {})
        return bool(group.get("allSupported")) or set(RECORDED_TYPES) <= set(group.get("resourceTypes", []))

    good = [r for r in seen.recorders if r["recording"] and covers(r)]
    return [
        Finding.judge(
            good,
            "4",
            "config-recorder-recording",
            where,
            f"recorder `{good[0].get('name')}` is recording the Backup and RDS resource types"
            if good
            else f"no AWS Config recorder is recording {', '.join(RECORDED_TYPES)} "
            f"({len(seen.recorders)} recorder(s)); Backup Audit Manager evaluates nothing without it",
        )
    ]


def verify(outputs: dict[str, Any], seen: Observed) -> list[Finding]:
    findings = [
        *check_databases(outputs, seen),
        *check_vault(outputs, seen),
        *check_buckets(outputs, seen),
        *check_keys(outputs, seen),
        *check_schedules(outputs, seen),
        *check_config_recording(outputs, seen),
    ]
    findings.extend(Finding("WARN", "4", "verify", "account", p, mandatory=False) for p in seen.problems)
    return findings
