"""The daily config-backup handler against moto: parameters and secrets metadata in, no secret values out.

It runs as its own role with IAM enforced (tests/moto_iam.py), in the account the staging export
declares (tests/aws_account.py)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from backupctl.handlers import config_backup
from backupctl.live.configbackup import collect, snapshot_key
from tests.aws_account import SECRET_VALUES, Account, build
from tests.conftest import Deployment
from tests.moto_iam import as_role, role_session

REGION = "eu-west-1"


class Run:
    """The staging account from the program's export; the handler runs as its own role, IAM enforced."""

    def __init__(self, admin: Any, account: Account, role: Any) -> None:
        self.admin, self.account, self.role = admin, account, role
        self.bucket = account.outputs["configBucket"]

    def handler(self, event: dict[str, Any]) -> dict[str, Any]:
        return as_role(lambda: config_backup(event, None, session=self.role))


@pytest.fixture
def run(monkeypatch: pytest.MonkeyPatch, staging: Deployment) -> Iterator[Run]:
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(var, "testing")
    with mock_aws():
        admin = boto3.Session(region_name=REGION)
        account = build(admin, staging.raw)
        ssm = admin.client("ssm")
        for i in range(25, 60):  # with the account's 25, more than five pages of GetParametersByPath
            ssm.put_parameter(Name=f"/maestro/policies/p{i:02d}", Value=f"allow-{i}", Type="String")
        function = account.one("aws:lambda/function:Function", "config-backup-function")
        for name, value in function["inputs"]["environment"]["variables"].items():
            monkeypatch.setenv(name, value)
        yield Run(admin, account, role_session(admin, function["inputs"]["name"], REGION))


def _objects(run: Run) -> dict[str, bytes]:
    s3 = run.admin.client("s3")
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=run.bucket).get("Contents", [])]
    return {k: s3.get_object(Bucket=run.bucket, Key=k)["Body"].read() for k in keys}


def test_handler_writes_snapshot_and_manifest_with_matching_sha256(run: Run) -> None:
    manifest = run.handler({"source": "schedule"})
    objects = _objects(run)
    assert set(objects) == {manifest["key"], manifest["key"].removesuffix(".json") + ".manifest.json"}
    assert hashlib.sha256(objects[manifest["key"]]).hexdigest() == manifest["sha256"]
    assert manifest["parameters"] == 62 and manifest["secrets"] == 1  # 60 policies, 2 routing pins


def test_no_secret_value_is_written_anywhere(run: Run, capsys: pytest.CaptureFixture[str]) -> None:
    run.handler({})
    printed = capsys.readouterr().out
    for body in [*_objects(run).values(), printed.encode()]:
        for value in SECRET_VALUES:
            assert value.encode() not in body


def test_snapshot_keeps_secret_metadata_and_plain_parameter_values(run: Run) -> None:
    manifest = run.handler({})
    doc = json.loads(_objects(run)[manifest["key"]])
    secret = doc["secrets"][0]
    assert secret["Name"] == "maestro/db-password" and secret["Tags"] == [{"Key": "owner", "Value": "sre"}]
    assert secret["KmsKeyId"].startswith("arn:aws:kms:")
    by_name = {p["Name"]: p for p in doc["parameters"]}
    assert by_name["/maestro/routing-pins/eu"]["Value"] == "eu-west-1a"
    assert by_name["/maestro/routing-pins/token"] == {
        **by_name["/maestro/routing-pins/token"],
        "ValueOmitted": True,
    }
    assert "Value" not in by_name["/maestro/routing-pins/token"]
    assert "/other/ignored" not in by_name


def test_snapshot_objects_are_encrypted_with_the_config_key(run: Run) -> None:
    manifest = run.handler({})
    head = run.admin.client("s3").head_object(Bucket=run.bucket, Key=manifest["key"])
    assert head["ServerSideEncryption"] == "aws:kms"
    assert head["SSEKMSKeyId"] == run.account.outputs["keyArns"]["config"]


def test_a_secret_that_disappears_mid_run_is_reported_not_fatal(run: Run) -> None:
    session = run.admin
    real = session.client("secretsmanager")

    class Vanishing:
        def get_paginator(self, name: str) -> Any:
            return real.get_paginator(name)

        def describe_secret(self, SecretId: str) -> Any:
            real.delete_secret(SecretId=SecretId, ForceDeleteWithoutRecovery=True)
            return real.describe_secret(SecretId=SecretId)

    snapshot = collect(
        session.client("ssm"),
        Vanishing(),
        environment="staging",
        paths=["/maestro/policies"],
        secrets_prefix="maestro/",
    )
    assert snapshot.secrets == []
    assert snapshot.problems == ["secret maestro/db-password disappeared during the backup"]


def test_snapshot_key_is_dated() -> None:
    assert snapshot_key("prod", "2026-11-29T02:15:00+00:00") == "config/prod/2026-11-29/20261129T021500Z.json"


def test_lambda_handlers_import_only_the_standard_library_boto3_and_backupctl() -> None:
    # The functions ship only the backupctl directory; the Lambda runtime provides boto3, nothing else.
    import subprocess
    import sys

    probe = (
        "import sys, backupctl.handlers; "
        "print(sorted(m for m in ('moto', 'pulumi', 'yaml', 'components') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
