"""Pulumi mocks that answer like AWS: realistic, deterministic ids and ARNs for every resource type.

Ids are derived from the URN's hash, so two previews of the same stack give the same deployment.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import pulumi

DEFAULT_ACCOUNT = "123456789012"


def _digest(text: str, size: int) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:size]


def _uuid(text: str) -> str:
    h = _digest(text, 32)
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


@dataclass(frozen=True)
class New:
    """What a mocked resource knows when AWS would give it an id: its type, inputs and derived names."""

    typ: str
    inputs: dict[str, Any]
    seed: str
    region: str
    account: str
    name: str
    auto_name: str

    def arn(self, service: str, rest: str) -> str:
        return f"arn:aws:{service}:{self.region}:{self.account}:{rest}"


Answer = tuple[str, dict[str, Any]]  # the physical id and the outputs AWS adds to the inputs


def _kms_key(r: New) -> Answer:
    key_id = _uuid(r.seed)
    return key_id, {"keyId": key_id, "arn": r.arn("kms", f"key/{key_id}")}


def _kms_alias(r: New) -> Answer:
    return r.name, {"arn": r.arn("kms", r.name), "targetKeyArn": ""}


def _bucket(r: New) -> Answer:
    bucket = r.inputs.get("bucket") or r.auto_name
    return bucket, {
        "bucket": bucket,
        "arn": f"arn:aws:s3:::{bucket}",
        "region": r.region,
        "bucketDomainName": f"{bucket}.s3.amazonaws.com",
    }


def _rds_instance(r: New) -> Answer:
    identifier = r.inputs.get("identifier") or r.auto_name
    resource_id = "db-" + _digest(r.seed, 26).upper()
    address = f"{identifier}.c{_digest(r.seed, 12)}.{r.region}.rds.amazonaws.com"
    secret = {
        "secretArn": r.arn("secretsmanager", f"secret:rds!{resource_id}"),
        "kmsKeyId": r.inputs.get("masterUserSecretKmsKeyId", ""),
        "secretStatus": "active",
    }
    return resource_id, {
        "identifier": identifier,
        "arn": r.arn("rds", f"db:{identifier}"),
        "resourceId": resource_id,
        "address": address,
        "endpoint": f"{address}:5432",
        "port": 5432,
        "masterUserSecrets": [secret],
    }


def _security_group(r: New) -> Answer:
    sg = "sg-" + _digest(r.seed, 17)
    return sg, {"arn": r.arn("ec2", f"security-group/{sg}"), "name": r.name}


def _backup_plan(r: New) -> Answer:
    plan_id = _uuid(r.seed)
    return plan_id, {"arn": r.arn("backup", f"backup-plan:{plan_id}"), "version": _digest(r.seed, 20)}


def _backup_report(r: New) -> Answer:
    kind = "framework" if "framework" in r.typ else "report-plan"
    return r.name, {"arn": r.arn("backup", f"{kind}:{r.name}-{_uuid(r.seed)}")}


def _role(r: New) -> Answer:
    return r.name, {
        "name": r.name,
        "arn": f"arn:aws:iam::{r.account}:role/{r.name}",
        "uniqueId": "AROA" + _digest(r.seed, 17).upper(),
    }


def _function(r: New) -> Answer:
    return r.name, {
        "arn": r.arn("lambda", f"function:{r.name}"),
        "invokeArn": f"arn:aws:apigateway:{r.region}:lambda:path/functions/{r.name}/invocations",
        "version": "$LATEST",
    }


def _topic(r: New) -> Answer:
    arn = r.arn("sns", r.name)
    return arn, {"name": r.name, "arn": arn}


def _schedule(r: New) -> Answer:
    return f"default/{r.name}", {
        "arn": r.arn("scheduler", f"schedule/default/{r.name}"),
        "groupName": "default",
    }


def _queue(r: New) -> Answer:
    url = f"https://sqs.{r.region}.amazonaws.com/{r.account}/{r.name}"
    return url, {"name": r.name, "arn": r.arn("sqs", r.name), "url": url}


# Service-linked role names AWS gives per service (the ones this program declares).
SERVICE_LINKED_ROLES = {"reports.backup.amazonaws.com": "AWSServiceRoleForBackupReports"}


def _service_linked_role(r: New) -> Answer:
    service = str(r.inputs.get("awsServiceName", ""))
    name = SERVICE_LINKED_ROLES.get(
        service, f"AWSServiceRoleFor{service.split('.', maxsplit=1)[0].capitalize()}"
    )
    arn = f"arn:aws:iam::{r.account}:role/aws-service-role/{service}/{name}"
    return arn, {"arn": arn, "name": name, "path": f"/aws-service-role/{service}/"}


def _named(service: str, pattern: str, **extra: Any) -> Any:
    """A resource whose id is its name and whose ARN is ``pattern`` formatted with that name."""

    def answer(r: New) -> Answer:
        return r.name, {"arn": r.arn(service, pattern.format(name=r.name)), **extra}

    return answer


ANSWERS: dict[str, Any] = {
    "aws:kms/key:Key": _kms_key,
    "aws:kms/alias:Alias": _kms_alias,
    "aws:s3/bucket:Bucket": _bucket,
    "aws:rds/instance:Instance": _rds_instance,
    "aws:rds/subnetGroup:SubnetGroup": lambda r: (
        r.name,
        {"name": r.name, "arn": r.arn("rds", f"subgrp:{r.name}")},
    ),
    "aws:ec2/securityGroup:SecurityGroup": _security_group,
    "aws:backup/vault:Vault": lambda r: (
        r.name,
        {"name": r.name, "arn": r.arn("backup", f"backup-vault:{r.name}"), "recoveryPoints": 0},
    ),
    "aws:backup/plan:Plan": _backup_plan,
    "aws:backup/framework:Framework": _backup_report,
    "aws:backup/reportPlan:ReportPlan": _backup_report,
    "aws:backup/restoreTestingPlan:RestoreTestingPlan": lambda r: (
        r.name,
        {"arn": r.arn("backup", f"restore-testing-plan:{r.name}-{_uuid(r.seed)}")},
    ),
    "aws:iam/role:Role": _role,
    "aws:lambda/function:Function": _function,
    "aws:sns/topic:Topic": _topic,
    "aws:scheduler/schedule:Schedule": _schedule,
    "aws:cloudtrail/trail:Trail": lambda r: (
        r.name,
        {"arn": r.arn("cloudtrail", f"trail/{r.name}"), "homeRegion": r.region},
    ),
    "aws:cloudwatch/logGroup:LogGroup": _named("logs", "log-group:{name}"),
    "aws:cloudwatch/eventRule:EventRule": _named("events", "rule/{name}"),
    "aws:cloudwatch/metricAlarm:MetricAlarm": _named("cloudwatch", "alarm:{name}"),
    "aws:sqs/queue:Queue": _queue,
    "aws:iam/serviceLinkedRole:ServiceLinkedRole": _service_linked_role,
}


def _default(r: New) -> Answer:
    service = r.typ.split(":")[1].split("/")[0]
    if r.typ.startswith("aws:s3/"):  # bucket settings are identified by their bucket
        return str(r.inputs.get("bucket", r.auto_name)), {}
    resource = r.typ.split(":")[-1].lower()
    return f"{r.name}-{_digest(r.seed, 8)}", {"arn": r.arn(service, f"{resource}/{r.name}")}


class AwsMocks(pulumi.runtime.Mocks):
    def __init__(self, account_id: str, region: str) -> None:
        self.account_id = account_id
        self.region = region

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict[str, Any], list[tuple[str, str]] | None]:
        if args.token == "aws:index/getCallerIdentity:getCallerIdentity":
            return {
                "accountId": self.account_id,
                "arn": f"arn:aws:iam::{self.account_id}:role/preview",
                "id": self.account_id,
                "userId": "AROAPREVIEW",
            }, []
        if args.token == "aws:index/getRegion:getRegion":
            return {"name": self.region, "region": self.region, "id": self.region}, []
        return {}, []

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str | None, dict[str, Any]]:
        if not args.custom:
            return (None, {})
        inputs = dict(args.inputs)
        seed = f"{args.typ}::{args.name}"
        auto_name = f"{args.name}-{_digest(seed, 7)}"
        request = New(
            typ=args.typ,
            inputs=inputs,
            seed=seed,
            region=inputs.get("region") or self.region,
            account=self.account_id,
            name=inputs.get("name") or auto_name,
            auto_name=auto_name,
        )
        answer = ANSWERS.get(args.typ)
        if answer is None:  # an input of the same name (an EventTarget's arn) wins over the made-up one
            physical_id, added = _default(request)
            return physical_id, {**inputs, **{k: v for k, v in added.items() if k not in inputs}}
        physical_id, added = answer(request)
        return physical_id, {**inputs, **added}
