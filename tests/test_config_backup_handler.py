"""The daily config-backup handler against moto: parameters and secrets metadata in, no secret values out."""

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

REGION = "eu-west-1"
BUCKET = "maestro-staging-config"
SECRET_VALUES = ("s3cr3t-db-password-value", "tok_live_9f8e7d6c5b4a")


@pytest.fixture
def session(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(var, "testing")
    with mock_aws():
        s = boto3.Session(region_name=REGION)
        s3 = s.client("s3")
        s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
        key = s.client("kms").create_key()["KeyMetadata"]["Arn"]
        ssm = s.client("ssm")
        for i in range(60):  # more than one page of GetParametersByPath (10 per page)
            ssm.put_parameter(Name=f"/maestro/policies/p{i:02d}", Value=f"allow-{i}", Type="String")
        ssm.put_parameter(Name="/maestro/routing-pins/eu", Value="eu-west-1a", Type="String")
        ssm.put_parameter(Name="/maestro/routing-pins/token", Value=SECRET_VALUES[1], Type="SecureString")
        ssm.put_parameter(Name="/other/ignored", Value="x", Type="String")
        sm = s.client("secretsmanager")
        sm.create_secret(
            Name="maestro/db-password",
            SecretString=SECRET_VALUES[0],
            KmsKeyId=key,
            Tags=[{"Key": "owner", "Value": "sre"}],
        )
        sm.create_secret(Name="elsewhere/unrelated", SecretString="nope")
        monkeypatch.setenv("MAESTRO_CONFIG_BUCKET", BUCKET)
        monkeypatch.setenv("MAESTRO_CONFIG_KMS_KEY", key)
        monkeypatch.setenv("MAESTRO_PARAMETER_PATHS", "/maestro/policies,/maestro/routing-pins")
        monkeypatch.setenv("MAESTRO_SECRETS_PREFIX", "maestro/")
        monkeypatch.setenv("MAESTRO_ENVIRONMENT", "staging")
        yield s


def _objects(session: Any) -> dict[str, bytes]:
    s3 = session.client("s3")
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET).get("Contents", [])]
    return {k: s3.get_object(Bucket=BUCKET, Key=k)["Body"].read() for k in keys}


def test_handler_writes_snapshot_and_manifest_with_matching_sha256(session: Any) -> None:
    manifest = config_backup({"source": "schedule"}, None, session=session)
    objects = _objects(session)
    assert set(objects) == {manifest["key"], manifest["key"].removesuffix(".json") + ".manifest.json"}
    assert hashlib.sha256(objects[manifest["key"]]).hexdigest() == manifest["sha256"]
    assert manifest["parameters"] == 62 and manifest["secrets"] == 1


def test_no_secret_value_is_written_anywhere(session: Any, capsys: pytest.CaptureFixture[str]) -> None:
    config_backup({}, None, session=session)
    printed = capsys.readouterr().out
    for body in [*_objects(session).values(), printed.encode()]:
        for value in SECRET_VALUES:
            assert value.encode() not in body


def test_snapshot_keeps_secret_metadata_and_plain_parameter_values(session: Any) -> None:
    manifest = config_backup({}, None, session=session)
    doc = json.loads(_objects(session)[manifest["key"]])
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


def test_snapshot_objects_are_encrypted_with_the_config_key(session: Any) -> None:
    manifest = config_backup({}, None, session=session)
    head = session.client("s3").head_object(Bucket=BUCKET, Key=manifest["key"])
    assert head["ServerSideEncryption"] == "aws:kms"


def test_a_secret_that_disappears_mid_run_is_reported_not_fatal(session: Any) -> None:
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
