"""The account the program declares, built in moto from the program's own preview export.

One source of truth for the live tests (issue 10): bucket names, default encryption (SSE-S3 on the
access-log bucket, SSE-KMS elsewhere), lifecycles, Object Lock, keys with their rotation, databases,
vaults and locks, topics, dead-letter queues, schedules, and every IAM role with its inline policy come
from ``backupctl preview``, so the live commands and the program cannot drift apart unnoticed. Moto's
account id replaces the stack's, and moto's random KMS key ids replace the mocks' (``arn_map``); both are
substituted in the whole export, policies included.

What the program cannot create is added as the README's "Before the first `pulumi up`" says: an AWS
Config recorder. Test data (parameters, secrets) is added too; their values are the only ones the
program never sees.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

MOTO_ACCOUNT = "123456789012"
SECRET_VALUES = ("s3cr3t-db-password-value", "tok_live_9f8e7d6c5b4a")


@dataclass
class Account:
    session: Any
    outputs: dict[str, Any]
    export: dict[str, Any]  # the preview export, with moto's account id and key ARNs substituted
    region: str
    arn_map: dict[str, str] = field(default_factory=dict)

    def client(self, service: str, region: str | None = None) -> Any:
        return self.session.client(service, region_name=region or self.region)

    def write_outputs(self, directory: Path, **changes: Any) -> Path:
        path = directory / "outputs.json"
        path.write_text(json.dumps({**self.outputs, **changes}))
        return path

    def resources(self, token: str) -> list[dict[str, Any]]:
        return [r for r in self.export["deployment"]["resources"] if r["type"] == token]

    def one(self, token: str, name_contains: str) -> dict[str, Any]:
        (found,) = [r for r in self.resources(token) if name_contains in r["urn"].rsplit("::", 1)[-1]]
        return found

    def role_policy(self, role_name: str) -> dict[str, Any]:
        """The inline policy document the program gives ``role_name``."""
        (policy,) = [
            r for r in self.resources("aws:iam/rolePolicy:RolePolicy") if r["inputs"]["role"] == role_name
        ]
        return json.loads(policy["inputs"]["policy"])


def _key(name: str) -> str:
    """camelCase export names to the API's PascalCase (sseAlgorithm -> SSEAlgorithm)."""
    special = {"sseAlgorithm": "SSEAlgorithm", "kmsMasterKeyId": "KMSMasterKeyID", "id": "ID"}
    return special.get(name, name[:1].upper() + name[1:])


def api_shape(value: Any) -> Any:
    if isinstance(value, dict):
        return {_key(k): api_shape(v) for k, v in value.items()}
    if isinstance(value, list):
        return [api_shape(v) for v in value]
    return value


def _region(resource: dict[str, Any], default: str) -> str:
    return str(resource["inputs"].get("region") or default)


def _by_bucket(export: dict[str, Any], token: str) -> dict[str, dict[str, Any]]:
    return {
        r["inputs"]["bucket"]: r["inputs"] for r in export["deployment"]["resources"] if r["type"] == token
    }


def _keys(session: Any, export: dict[str, Any], region: str) -> dict[str, str]:
    """Every CMK, rotating as declared (moto drops RotationPeriodInDays), with its alias."""
    arn_map: dict[str, str] = {}
    resources = export["deployment"]["resources"]
    for key in (r for r in resources if r["type"] == "aws:kms/key:Key"):
        kms = session.client("kms", region_name=_region(key, region))
        tags = [{"TagKey": k, "TagValue": v} for k, v in key["inputs"]["tags"].items()]
        arn = kms.create_key(Description=key["inputs"]["description"], Tags=tags)["KeyMetadata"]["Arn"]
        if key["inputs"].get("enableKeyRotation"):
            kms.enable_key_rotation(KeyId=arn, RotationPeriodInDays=key["inputs"]["rotationPeriodInDays"])
        arn_map[key["outputs"]["arn"]] = arn
        key_id = key["outputs"]["keyId"]
        for alias in (r for r in resources if r["type"] == "aws:kms/alias:Alias"):
            if alias["inputs"]["targetKeyId"] == key_id:
                kms.create_alias(AliasName=alias["inputs"]["name"], TargetKeyId=arn)
    return arn_map


def _buckets(session: Any, export: dict[str, Any], region: str) -> None:
    s3 = session.client("s3", region_name=region)
    versioning = _by_bucket(export, "aws:s3/bucketVersioning:BucketVersioning")
    encryption = _by_bucket(
        export, "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"
    )
    lifecycle = _by_bucket(export, "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration")
    locks = _by_bucket(export, "aws:s3/bucketObjectLockConfiguration:BucketObjectLockConfiguration")
    blocks = _by_bucket(export, "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock")
    for bucket in (r for r in export["deployment"]["resources"] if r["type"] == "aws:s3/bucket:Bucket"):
        name = bucket["inputs"]["bucket"]
        s3.create_bucket(
            Bucket=name,
            CreateBucketConfiguration={"LocationConstraint": region},
            ObjectLockEnabledForBucket=bool(bucket["inputs"].get("objectLockEnabled")),
        )
        s3.put_bucket_versioning(
            Bucket=name, VersioningConfiguration=api_shape(versioning[name]["versioningConfiguration"])
        )
        s3.put_bucket_encryption(
            Bucket=name, ServerSideEncryptionConfiguration={"Rules": api_shape(encryption[name]["rules"])}
        )
        block = {k: v for k, v in blocks[name].items() if k != "bucket"}
        s3.put_public_access_block(Bucket=name, PublicAccessBlockConfiguration=api_shape(block))
        if name in lifecycle:
            s3.put_bucket_lifecycle_configuration(
                Bucket=name, LifecycleConfiguration={"Rules": api_shape(lifecycle[name]["rules"])}
            )
        if name in locks:
            lock = locks[name]
            s3.put_object_lock_configuration(
                Bucket=name,
                ObjectLockConfiguration={
                    "ObjectLockEnabled": lock["objectLockEnabled"],
                    "Rule": api_shape(lock["rule"]),
                },
            )


def _databases(session: Any, export: dict[str, Any], region: str) -> None:
    for db in (r for r in export["deployment"]["resources"] if r["type"] == "aws:rds/instance:Instance"):
        i = db["inputs"]
        session.client("rds", region_name=_region(db, region)).create_db_instance(
            DBInstanceIdentifier=i["identifier"],
            Engine=i["engine"],
            EngineVersion=i["engineVersion"],
            DBInstanceClass=i["instanceClass"],
            AllocatedStorage=i["allocatedStorage"],
            MasterUsername=i["username"],
            MasterUserPassword="not-a-real-password",  # moto: the program lets RDS manage it
            BackupRetentionPeriod=i["backupRetentionPeriod"],
            PreferredBackupWindow=i["backupWindow"],
            PreferredMaintenanceWindow=i["maintenanceWindow"],
            StorageEncrypted=i["storageEncrypted"],
            KmsKeyId=i["kmsKeyId"],
            DeletionProtection=i["deletionProtection"],
            CopyTagsToSnapshot=i["copyTagsToSnapshot"],
            MultiAZ=i["multiAz"],
            Tags=[{"Key": k, "Value": v} for k, v in i["tags"].items()],
        )


def _vaults(session: Any, export: dict[str, Any], region: str) -> None:
    resources = export["deployment"]["resources"]
    for vault in (r for r in resources if r["type"] == "aws:backup/vault:Vault"):
        backup = session.client("backup", region_name=_region(vault, region))
        backup.create_backup_vault(
            BackupVaultName=vault["inputs"]["name"], EncryptionKeyArn=vault["inputs"]["kmsKeyArn"]
        )
    for lock in (
        r for r in resources if r["type"] == "aws:backup/vaultLockConfiguration:VaultLockConfiguration"
    ):
        i = lock["inputs"]
        session.client("backup", region_name=_region(lock, region)).put_backup_vault_lock_configuration(
            BackupVaultName=i["backupVaultName"],
            MinRetentionDays=i["minRetentionDays"],
            MaxRetentionDays=i["maxRetentionDays"],
            **({"ChangeableForDays": i["changeableForDays"]} if "changeableForDays" in i else {}),
        )


def _messaging(session: Any, export: dict[str, Any], region: str) -> None:
    resources = export["deployment"]["resources"]
    for topic in (r for r in resources if r["type"] == "aws:sns/topic:Topic"):
        session.client("sns", region_name=_region(topic, region)).create_topic(
            Name=topic["inputs"]["name"], Attributes={"KmsMasterKeyId": topic["inputs"]["kmsMasterKeyId"]}
        )
    for queue in (r for r in resources if r["type"] == "aws:sqs/queue:Queue"):
        i = queue["inputs"]
        session.client("sqs", region_name=_region(queue, region)).create_queue(
            QueueName=i["name"],
            Attributes={
                "SqsManagedSseEnabled": str(i["sqsManagedSseEnabled"]).lower(),
                "MessageRetentionPeriod": str(i["messageRetentionSeconds"]),
            },
        )
    for schedule in (r for r in resources if r["type"] == "aws:scheduler/schedule:Schedule"):
        i = schedule["inputs"]
        session.client("scheduler", region_name=_region(schedule, region)).create_schedule(
            Name=i["name"],
            ScheduleExpression=i["scheduleExpression"],
            ScheduleExpressionTimezone=i["scheduleExpressionTimezone"],
            FlexibleTimeWindow=api_shape(i["flexibleTimeWindow"]),
            State=i["state"],
            KmsKeyArn=i["kmsKeyArn"],
            Target=api_shape(i["target"]),
        )


def _roles(session: Any, export: dict[str, Any]) -> None:
    """Every role with the program's trust policy and inline policies (managed attachments are AWS's)."""
    iam = session.client("iam")
    resources = export["deployment"]["resources"]
    for role in (r for r in resources if r["type"] == "aws:iam/role:Role"):
        iam.create_role(
            RoleName=role["inputs"]["name"], AssumeRolePolicyDocument=role["inputs"]["assumeRolePolicy"]
        )
    for policy in (r for r in resources if r["type"] == "aws:iam/rolePolicy:RolePolicy"):
        iam.put_role_policy(
            RoleName=policy["inputs"]["role"],
            PolicyName=policy["urn"].rsplit("::", 1)[-1],
            PolicyDocument=policy["inputs"]["policy"],
        )


def _prerequisites(session: Any, outputs: dict[str, Any], region: str) -> None:
    """README "Before the first `pulumi up`": AWS Config recording (not declared by the program)."""
    config = session.client("config", region_name=region)
    config.put_configuration_recorder(
        ConfigurationRecorder={
            "name": "default",
            "roleARN": f"arn:aws:iam::{MOTO_ACCOUNT}:role/aws-service-role/config.amazonaws.com/"
            "AWSServiceRoleForConfig",
            "recordingGroup": {"allSupported": True, "includeGlobalResourceTypes": False},
        }
    )
    config.put_delivery_channel(DeliveryChannel={"name": "default", "s3BucketName": outputs["auditBucket"]})
    config.start_configuration_recorder(ConfigurationRecorderName="default")


def _test_data(session: Any, outputs: dict[str, Any], region: str) -> None:
    """What lives under the parameter paths and secrets prefix the program backs up (not declared by it)."""
    ssm = session.client("ssm", region_name=region)
    policies, pins = outputs["parameterPaths"]
    for i in range(25):  # more than two pages of GetParametersByPath (10 per page)
        ssm.put_parameter(Name=f"{policies}/p{i:02d}", Value=f"allow-{i}", Type="String")
    ssm.put_parameter(Name=f"{pins}/eu", Value="eu-west-1a", Type="String")
    ssm.put_parameter(Name=f"{pins}/token", Value=SECRET_VALUES[1], Type="SecureString")
    ssm.put_parameter(Name="/other/ignored", Value="x", Type="String")
    sm = session.client("secretsmanager", region_name=region)
    sm.create_secret(
        Name=f"{outputs['secretsPrefix']}db-password",
        SecretString=SECRET_VALUES[0],
        KmsKeyId=outputs["keyArns"]["config"],
        Tags=[{"Key": "owner", "Value": "sre"}],
    )
    sm.create_secret(Name="elsewhere/unrelated", SecretString="nope")


def _substitute(export: dict[str, Any], mapping: dict[str, str]) -> dict[str, Any]:
    text = json.dumps(export)
    for old, new in mapping.items():
        text = text.replace(old, new)
    return json.loads(text)


def build(session: Any, deployment: dict[str, Any]) -> Account:
    """Creates, in moto, everything ``deployment`` (a preview export) declares; returns it with outputs."""
    raw = copy.deepcopy(deployment)
    stack_account = raw["deployment"]["resources"][0]["outputs"]["accountId"]
    export = _substitute(raw, {stack_account: MOTO_ACCOUNT})
    outputs = export["deployment"]["resources"][0]["outputs"]
    region = str(outputs["region"])
    arn_map = _keys(session, export, region)
    export = _substitute(export, arn_map)
    outputs = export["deployment"]["resources"][0]["outputs"]
    _buckets(session, export, region)
    _databases(session, export, region)
    _vaults(session, export, region)
    _messaging(session, export, region)
    _roles(session, export)
    _prerequisites(session, outputs, region)
    _test_data(session, outputs, region)
    return Account(session, outputs, export, region, arn_map)


def add_databases(account: Account, count: int) -> Iterator[str]:
    """More standard databases like the stack's own (the pagination tests), added to the outputs too."""
    template = account.resources("aws:rds/instance:Instance")[0]["inputs"]
    rds = account.client("rds")
    for i in range(count):
        ident = re.sub(r"-[a-z]+$", f"-extra{i:03d}", template["identifier"])
        rds.create_db_instance(
            DBInstanceIdentifier=ident,
            Engine="postgres",
            DBInstanceClass=template["instanceClass"],
            AllocatedStorage=template["allocatedStorage"],
            MasterUsername=template["username"],
            MasterUserPassword="not-a-real-password",
            BackupRetentionPeriod=template["backupRetentionPeriod"],
            StorageEncrypted=True,
            KmsKeyId=template["kmsKeyId"],
        )
        account.outputs["databases"].append(
            {
                "name": f"extra{i:03d}",
                "identifier": ident,
                "arn": f"arn:aws:rds:{account.region}:{MOTO_ACCOUNT}:db:{ident}",
                "criticality": "standard",
                "rpoMinutes": 240,
                "rtoMinutes": 1440,
            }
        )
        yield ident
