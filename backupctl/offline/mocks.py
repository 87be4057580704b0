"""Pulumi mocks that answer like AWS: realistic, deterministic ids and ARNs for every resource type.

Ids are derived from the URN's hash, so two previews of the same stack give the same deployment.
"""

from __future__ import annotations

import hashlib
from typing import Any

import pulumi

DEFAULT_ACCOUNT = "123456789012"


def _digest(text: str, size: int) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:size]


def _uuid(text: str) -> str:
    h = _digest(text, 32)
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


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
        region = inputs.get("region") or self.region
        acct = self.account_id
        auto_name = f"{args.name}-{_digest(seed, 7)}"
        name = inputs.get("name") or auto_name
        typ = args.typ
        outputs: dict[str, Any] = {**inputs}
        if typ == "aws:kms/key:Key":
            key_id = _uuid(seed)
            outputs.update(keyId=key_id, arn=f"arn:aws:kms:{region}:{acct}:key/{key_id}")
            return key_id, outputs
        if typ == "aws:kms/alias:Alias":
            outputs.update(arn=f"arn:aws:kms:{region}:{acct}:{name}", targetKeyArn="")
            return name, outputs
        if typ == "aws:s3/bucket:Bucket":
            bucket = inputs.get("bucket") or auto_name
            outputs.update(
                bucket=bucket,
                arn=f"arn:aws:s3:::{bucket}",
                region=region,
                bucketDomainName=f"{bucket}.s3.amazonaws.com",
            )
            return bucket, outputs
        if typ.startswith("aws:s3/"):
            return str(inputs.get("bucket", auto_name)), outputs
        if typ == "aws:rds/instance:Instance":
            identifier = inputs.get("identifier") or auto_name
            resource_id = "db-" + _digest(seed, 26).upper()
            outputs.update(
                identifier=identifier,
                arn=f"arn:aws:rds:{region}:{acct}:db:{identifier}",
                resourceId=resource_id,
                address=f"{identifier}.c{_digest(seed, 12)}.{region}.rds.amazonaws.com",
                endpoint=f"{identifier}.c{_digest(seed, 12)}.{region}.rds.amazonaws.com:5432",
                port=5432,
                masterUserSecrets=[
                    {
                        "secretArn": f"arn:aws:secretsmanager:{region}:{acct}:secret:rds!{resource_id}",
                        "kmsKeyId": inputs.get("masterUserSecretKmsKeyId", ""),
                        "secretStatus": "active",
                    }
                ],
            )
            return resource_id, outputs
        if typ == "aws:rds/subnetGroup:SubnetGroup":
            outputs.update(name=name, arn=f"arn:aws:rds:{region}:{acct}:subgrp:{name}")
            return name, outputs
        if typ == "aws:ec2/securityGroup:SecurityGroup":
            sg = "sg-" + _digest(seed, 17)
            outputs.update(arn=f"arn:aws:ec2:{region}:{acct}:security-group/{sg}", name=name)
            return sg, outputs
        if typ == "aws:backup/vault:Vault":
            outputs.update(
                name=name, arn=f"arn:aws:backup:{region}:{acct}:backup-vault:{name}", recoveryPoints=0
            )
            return name, outputs
        if typ == "aws:backup/plan:Plan":
            plan_id = _uuid(seed)
            outputs.update(
                arn=f"arn:aws:backup:{region}:{acct}:backup-plan:{plan_id}", version=_digest(seed, 20)
            )
            return plan_id, outputs
        if typ in ("aws:backup/framework:Framework", "aws:backup/reportPlan:ReportPlan"):
            kind = "framework" if "framework" in typ else "report-plan"
            outputs.update(arn=f"arn:aws:backup:{region}:{acct}:{kind}:{name}-{_uuid(seed)}")
            return name, outputs
        if typ == "aws:backup/restoreTestingPlan:RestoreTestingPlan":
            outputs.update(arn=f"arn:aws:backup:{region}:{acct}:restore-testing-plan:{name}-{_uuid(seed)}")
            return name, outputs
        if typ == "aws:iam/role:Role":
            outputs.update(
                name=name, arn=f"arn:aws:iam::{acct}:role/{name}", uniqueId="AROA" + _digest(seed, 17).upper()
            )
            return name, outputs
        if typ == "aws:lambda/function:Function":
            outputs.update(
                arn=f"arn:aws:lambda:{region}:{acct}:function:{name}",
                invokeArn=f"arn:aws:apigateway:{region}:lambda:path/functions/{name}/invocations",
                version="$LATEST",
            )
            return name, outputs
        if typ == "aws:sns/topic:Topic":
            arn = f"arn:aws:sns:{region}:{acct}:{name}"
            outputs.update(name=name, arn=arn)
            return arn, outputs
        if typ == "aws:scheduler/schedule:Schedule":
            outputs.update(
                arn=f"arn:aws:scheduler:{region}:{acct}:schedule/default/{name}", groupName="default"
            )
            return f"default/{name}", outputs
        if typ == "aws:cloudtrail/trail:Trail":
            outputs.update(arn=f"arn:aws:cloudtrail:{region}:{acct}:trail/{name}", homeRegion=region)
            return name, outputs
        if typ == "aws:cloudwatch/logGroup:LogGroup":
            outputs.update(arn=f"arn:aws:logs:{region}:{acct}:log-group:{name}")
            return name, outputs
        if typ == "aws:cloudwatch/eventRule:EventRule":
            outputs.update(arn=f"arn:aws:events:{region}:{acct}:rule/{name}")
            return name, outputs
        service = typ.split(":")[1].split("/")[0]
        outputs.setdefault("arn", f"arn:aws:{service}:{region}:{acct}:{typ.split(':')[-1].lower()}/{name}")
        return f"{name}-{_digest(seed, 8)}", outputs
