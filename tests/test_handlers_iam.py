"""The Lambda handlers under their own role, with IAM enforced in moto (issue 10).

The account, the roles and their inline policies and the functions' environment come from the program's
preview export (tests/aws_account.py); each handler runs with the assumed credentials of its function's
role, so any AWS call the role does not allow fails here instead of in the first scheduled run.

What moto cannot show, and where it is covered instead:
- S3 answers 403, not 404, for a missing key without s3:ListBucket; moto always answers 404. The policy
  ``iam-role-s3-read-can-list`` checks the grant, and ``test_a_canary_read_denied_is_that_keys_fail``
  drives the handler with a stubbed 403.
- Scheduler decrypting its payload as the schedule's role: the policy ``scheduler-schedule-cmk-decrypt``.
- Key, bucket and topic policies: not evaluated by moto; parliament and the wiring policies check them.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from botocore.exceptions import ClientError

from backupctl.findings import Finding
from backupctl.handlers import config_backup, kms_validate
from backupctl.live.kmscheck import KeyValidation
from tests.aws_account import SECRET_VALUES, Account, build
from tests.conftest import Deployment
from tests.moto_iam import as_role, role_session

REGION = "eu-west-1"


def _function_env(account: Account, job: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """Sets the function's environment as the program declares it; returns its role's name."""
    function = account.one("aws:lambda/function:Function", f"{job}-function")
    for name, value in function["inputs"]["environment"]["variables"].items():
        monkeypatch.setenv(name, value)
    return function["inputs"]["name"]  # role and function share the physical name


def _without(account: Account, role: str, sid: str) -> None:
    document = account.role_policy(role)
    document["Statement"] = [s for s in document["Statement"] if s.get("Sid") != sid]
    (policy,) = [
        r["urn"].rsplit("::", 1)[-1]
        for r in account.resources("aws:iam/rolePolicy:RolePolicy")
        if r["inputs"]["role"] == role
    ]
    account.client("iam").put_role_policy(
        RoleName=role, PolicyName=policy, PolicyDocument=json.dumps(document)
    )


def _subscribe(account: Account) -> tuple[Any, str]:
    sqs = account.client("sqs")
    queue = sqs.create_queue(QueueName="alerts-inbox")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    account.client("sns").subscribe(TopicArn=account.outputs["alertsTopicArn"], Protocol="sqs", Endpoint=arn)
    return sqs, queue


# ---- config backup ------------------------------------------------------------------------------------


def test_config_backup_runs_under_its_own_role(
    aws: Any, staging: Deployment, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    account = build(aws, staging.raw)
    role = role_session(aws, _function_env(account, "config-backup", monkeypatch), REGION)
    manifest = as_role(lambda: config_backup({"source": "schedule"}, None, session=role))
    assert manifest["parameters"] == 27 and manifest["secrets"] == 1
    body = account.client("s3").get_object(Bucket=account.outputs["configBucket"], Key=manifest["key"])[
        "Body"
    ]
    text = body.read() + capsys.readouterr().out.encode()
    assert not [v for v in SECRET_VALUES if v.encode() in text]


@pytest.mark.parametrize(
    ("sid", "action"),
    [
        ("WriteConfigSnapshots", "PutObject"),
        ("ReadPoliciesAndRoutingPins", "GetParametersByPath"),
        ("DescribeSecretsMetadata", "DescribeSecret"),
    ],
)
def test_config_backup_fails_when_its_role_lacks_a_statement(
    aws: Any, staging: Deployment, monkeypatch: pytest.MonkeyPatch, sid: str, action: str
) -> None:
    account = build(aws, staging.raw)
    role_name = _function_env(account, "config-backup", monkeypatch)
    _without(account, role_name, sid)
    role = role_session(aws, role_name, REGION)
    with pytest.raises(ClientError) as denied:
        as_role(lambda: config_backup({"source": "schedule"}, None, session=role))
    assert denied.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    assert action in str(denied.value)


def test_config_backup_role_cannot_read_a_secret_value(
    aws: Any, staging: Deployment, monkeypatch: pytest.MonkeyPatch
) -> None:
    account = build(aws, staging.raw)
    role = role_session(aws, _function_env(account, "config-backup", monkeypatch), REGION)
    secret = f"{account.outputs['secretsPrefix']}db-password"
    with pytest.raises(ClientError) as denied:
        as_role(lambda: role.client("secretsmanager").get_secret_value(SecretId=secret))
    assert denied.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403


# ---- kms validate -------------------------------------------------------------------------------------


@pytest.mark.parametrize("stack_name", ["staging", "prod"])
def test_kms_validate_runs_under_its_own_role_over_every_key(
    aws: Any, deployments: dict[str, Deployment], monkeypatch: pytest.MonkeyPatch, stack_name: str
) -> None:
    account = build(aws, deployments[stack_name].raw)
    role = role_session(aws, _function_env(account, "kms-validate", monkeypatch), REGION)
    result = as_role(lambda: kms_validate({"source": "schedule"}, None, session=role))
    assert result["result"] == "ok", [f for f in result["findings"] if f["status"] != "PASS"]
    validated = {f["resource"] for f in result["findings"] if f["check"] == "kms-canary-decrypt"}
    expected = set(account.outputs["keyArns"].values()) | set(account.outputs["drKeyArns"].values())
    assert validated == expected and len(expected) == (8 if stack_name == "prod" else 5)
    again = as_role(lambda: kms_validate({"source": "schedule"}, None, session=role))
    canaries = [f["message"] for f in again["findings"] if f["check"] == "kms-canary-decrypt"]
    assert all("decrypts" in m for m in canaries), canaries


def test_kms_validate_publishes_each_failing_key_under_its_own_role(
    aws: Any, staging: Deployment, monkeypatch: pytest.MonkeyPatch
) -> None:
    account = build(aws, staging.raw)
    role_name = _function_env(account, "kms-validate", monkeypatch)
    account.client("kms").disable_key_rotation(KeyId=account.outputs["keyArns"]["backup"])
    sqs, queue = _subscribe(account)
    role = role_session(aws, role_name, REGION)
    result = as_role(lambda: kms_validate({"source": "schedule"}, None, session=role))
    assert result["result"] == "fail"
    messages = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages", [])
    assert messages and "backup key: rotation off" in json.loads(messages[0]["Body"])["Message"]


def test_kms_validate_still_publishes_when_its_role_may_not_use_the_keys(
    aws: Any, staging: Deployment, monkeypatch: pytest.MonkeyPatch
) -> None:
    account = build(aws, staging.raw)
    role_name = _function_env(account, "kms-validate", monkeypatch)
    _without(account, role_name, "ValidateOnlyTheStackKeys")
    sqs, queue = _subscribe(account)
    role = role_session(aws, role_name, REGION)
    result = as_role(lambda: kms_validate({"source": "schedule"}, None, session=role))
    failed = [f for f in result["findings"] if f["status"] == "FAIL"]
    assert {f["check"] for f in failed} == {"kms-validate"} and len(failed) == 5, failed
    (message,) = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10)["Messages"]
    assert json.loads(message["Body"])["Message"].count("validation stopped with") == 5


class _DeniedS3:
    """S3 as AWS answers a role without s3:ListBucket for a canary not made yet (moto answers 404)."""

    def get_json(self, bucket: str, key: str) -> Any:
        raise ClientError({"Error": {"Code": "AccessDenied", "Message": "Access Denied"}}, "GetObject")


class _Kms:
    def describe(self, key: str) -> dict[str, Any]:
        return {"KeyId": key[-4:], "KeyState": "Enabled", "KeyManager": "CUSTOMER"}

    def rotation(self, key: str) -> dict[str, Any]:
        return {"KeyRotationEnabled": True, "RotationPeriodInDays": 365}

    def rotations(self, key: str) -> list[dict[str, Any]]:
        return []

    def encrypt(self, key: str, plaintext: bytes, context: dict[str, str]) -> bytes:
        return plaintext

    def decrypt(self, key: str, blob: bytes, context: dict[str, str]) -> bytes:
        return blob


def test_a_canary_read_denied_is_that_keys_fail_and_the_run_goes_on() -> None:
    findings: list[Finding] = KeyValidation(
        _Kms(),  # type: ignore[arg-type]
        _DeniedS3(),  # type: ignore[arg-type]
        environment="staging",
        bucket="b",
        config_key_arn=None,
    ).run({"rds": "arn:aws:kms:eu-west-1:1:key/aaaa", "logs": "arn:aws:kms:eu-west-1:1:key/bbbb"})
    stopped = [f for f in findings if f.check == "kms-validate"]
    assert [f.status for f in stopped] == ["FAIL", "FAIL"]
    assert all("AccessDenied" in f.message for f in stopped)
