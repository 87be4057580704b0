"""A hand-written staging account in moto, for the restore-drill tests only.

The verify/config/kms and handler tests use tests/aws_account.py, built from the program's own preview
export (issue 10). The drill tests still start from this older, hand-made account (one database named
`orders`, short bucket names); moving them onto the export-built account belongs with the drill's own
rework (issue 13), so this module keeps them working until then. Do not add new users.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REGION = "eu-west-1"
PURPOSES = ("backup", "config", "logs", "rds", "storage")
SECRET_VALUES = ("s3cr3t-db-password-value", "tok_live_9f8e7d6c5b4a")


@dataclass
class Account:
    session: Any
    outputs: dict[str, Any]

    def client(self, service: str) -> Any:
        return self.session.client(service, region_name=REGION)

    def write_outputs(self, directory: Path, **changes: Any) -> Path:
        path = directory / "outputs.json"
        path.write_text(json.dumps({**self.outputs, **changes}))
        return path


def _bucket(s3: Any, name: str, key_arn: str, *, lock: bool = False) -> None:
    s3.create_bucket(
        Bucket=name,
        CreateBucketConfiguration={"LocationConstraint": REGION},
        ObjectLockEnabledForBucket=lock,
    )
    s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
    s3.put_bucket_encryption(
        Bucket=name,
        ServerSideEncryptionConfiguration={
            "Rules": [
                {"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": key_arn}}
            ]
        },
    )


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


def build(session: Any, *, environment: str = "staging", databases: int = 1) -> Account:
    """Creates the compliant account; returns it with its stack outputs."""
    prefix = f"maestro-{environment}"
    kms = session.client("kms", region_name=REGION)
    keys = {}
    for purpose in PURPOSES:
        arn = kms.create_key(Description=f"{prefix} {purpose}")["KeyMetadata"]["Arn"]
        kms.enable_key_rotation(KeyId=arn, RotationPeriodInDays=365)
        keys[purpose] = arn
    rds = session.client("rds", region_name=REGION)
    dbs = []
    for i in range(databases):
        name = "orders" if i == 0 else f"db{i:03d}"
        critical = i == 0
        ident = f"{prefix}-{name}"
        rds.create_db_instance(
            DBInstanceIdentifier=ident,
            Engine="postgres",
            DBInstanceClass="db.t3.micro",
            AllocatedStorage=20,
            MasterUsername="maestro",
            MasterUserPassword="not-a-real-password",
            BackupRetentionPeriod=7,
            StorageEncrypted=True,
            KmsKeyId=keys["rds"],
            DeletionProtection=environment == "prod",
            Tags=[
                {"Key": "maestro:backup", "Value": "true"},
                {"Key": "maestro:drill-target", "Value": str(environment == "staging").lower()},
            ],
        )
        dbs.append(
            {
                "name": name,
                "identifier": ident,
                "arn": f"arn:aws:rds:{REGION}:123456789012:db:{ident}",
                "criticality": "critical" if critical else "standard",
                "rpoMinutes": 15 if critical else 240,
                "rtoMinutes": 240 if critical else 1440,
            }
        )
    backup = session.client("backup", region_name=REGION)
    backup.create_backup_vault(BackupVaultName=f"{prefix}-vault", EncryptionKeyArn=keys["backup"])
    if environment == "prod":
        backup.put_backup_vault_lock_configuration(BackupVaultName=f"{prefix}-vault", MinRetentionDays=7)
    s3 = session.client("s3", region_name=REGION)
    buckets = {
        "artifactsBucket": f"{prefix}-artifacts",
        "evidenceBucket": f"{prefix}-evidence",
        "configBucket": f"{prefix}-config",
        "auditBucket": f"{prefix}-audit",
        "accessLogBucket": f"{prefix}-access-logs",
    }
    for output, name in buckets.items():
        _bucket(s3, name, keys["storage"], lock=output == "evidenceBucket")
    s3.put_bucket_lifecycle_configuration(
        Bucket=buckets["artifactsBucket"], LifecycleConfiguration={"Rules": artifacts_rules()}
    )
    lock_mode = "COMPLIANCE" if environment == "prod" else "GOVERNANCE"
    s3.put_object_lock_configuration(
        Bucket=buckets["evidenceBucket"],
        ObjectLockConfiguration={
            "ObjectLockEnabled": "Enabled",
            "Rule": {"DefaultRetention": {"Mode": lock_mode, "Days": 90}},
        },
    )
    s3.put_bucket_lifecycle_configuration(
        Bucket=buckets["evidenceBucket"],
        LifecycleConfiguration={
            "Rules": [
                {
                    "ID": "evidence-archive-after-lock",
                    "Status": "Enabled",
                    "Filter": {"Prefix": "evidence/"},
                    "Transitions": [{"Days": 90, "StorageClass": "DEEP_ARCHIVE"}],
                }
            ]
        },
    )
    scheduler = session.client("scheduler", region_name=REGION)
    schedules = {}
    for job, expression in (("config-backup", "cron(0 3 * * ? *)"), ("kms-validate", "cron(0 6 1 * ? *)")):
        name = f"{prefix}-{job}"
        scheduler.create_schedule(
            Name=name,
            ScheduleExpression=expression,
            FlexibleTimeWindow={"Mode": "OFF"},
            State="ENABLED",
            Target={
                "Arn": f"arn:aws:lambda:{REGION}:123456789012:function:{name}",
                "RoleArn": f"arn:aws:iam::123456789012:role/{name}-scheduler",
            },
        )
        schedules[job] = name
    ssm = session.client("ssm", region_name=REGION)
    for i in range(25):  # more than two pages of GetParametersByPath (10 per page)
        ssm.put_parameter(Name=f"/maestro/policies/p{i:02d}", Value=f"allow-{i}", Type="String")
    ssm.put_parameter(Name="/maestro/routing-pins/eu", Value="eu-west-1a", Type="String")
    ssm.put_parameter(Name="/maestro/routing-pins/token", Value=SECRET_VALUES[1], Type="SecureString")
    sm = session.client("secretsmanager", region_name=REGION)
    sm.create_secret(
        Name="maestro/db-password",
        SecretString=SECRET_VALUES[0],
        KmsKeyId=keys["config"],
        Tags=[{"Key": "owner", "Value": "sre"}],
    )
    topic = session.client("sns", region_name=REGION).create_topic(Name=f"{prefix}-alerts")["TopicArn"]
    outputs = {
        "environment": environment,
        "region": REGION,
        "accountId": "123456789012",
        "databases": dbs,
        "backupRetentionDays": 7,
        "vaultName": f"{prefix}-vault",
        "keyArns": keys,
        **buckets,
        "evidenceLockMode": lock_mode,
        "evidenceLockDays": 90,
        "alertsTopicArn": topic,
        "configBackupSchedule": schedules["config-backup"],
        "kmsValidationSchedule": schedules["kms-validate"],
        "parameterPaths": ["/maestro/policies", "/maestro/routing-pins"],
        "secretsPrefix": "maestro/",
        "drillTarget": environment == "staging",
    }
    return Account(session, outputs)
