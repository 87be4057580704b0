"""Run code in moto as one of the program's roles, with IAM enforced (issue 10).

moto 5.2.5 checks a request signed with a role's assumed credentials against that role's inline
policies once ``enable_iam_authentication`` is on. Two things it does not do on its own, handled here:

- KMS, SNS, SSM and Secrets Manager requests are authorized against Resource "*", so a statement scoped
  to an ARN (the program's least privilege) never matches. ``install`` gives those services the ARN the
  request names; unsure cases stay "*" (denied unless the policy allows "*").
- Conditions are ignored: an Allow with a condition allows (``s3:prefix`` on ListBucket), a Deny with a
  condition always denies (the config-backup role's ``kms:ViaService`` deny therefore denies every
  kms:Decrypt of that role here: stricter than AWS, never looser). Resource policies (bucket, key, topic
  policies) are not evaluated at all; the policy pack and parliament check those.

The trust policy is checked by AssumeRole only under enforcement, and moto cannot evaluate a Service
principal there, so the role is assumed before enforcement starts.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import boto3
from moto.core.authorization import enable_iam_authentication
from moto.kms.responses import KmsResponse
from moto.secretsmanager.responses import SecretsManagerResponse
from moto.sns.responses import SNSResponse
from moto.ssm.responses import SimpleSystemManagerResponse

T = TypeVar("T")


def _kms(self: Any) -> str:
    key_id = self._get_param("KeyId")
    if not key_id:
        return "*"
    try:
        return self.kms_backend.describe_key(key_id).arn
    except Exception:  # an unknown key: let KMS answer NotFound after the "*" check
        return "*"


def _sns(self: Any) -> str:
    return self._get_param("TopicArn") or "*"


def _ssm(self: Any) -> str:
    name = self._get_param("Name") or self._get_param("Path")
    names = self._get_param("Names")
    if not name and names:
        name = names[0]  # GetParameters: AWS checks each name; the handlers never mix paths in one call
    if not name:
        return "*"
    name = name if name.startswith("/") else "/" + name
    return f"arn:aws:ssm:{self.region}:{self.current_account}:parameter{name}"


def _secrets(self: Any) -> str:
    secret_id = self._get_param("SecretId")
    if not secret_id:
        return "*"
    try:
        return self.backend.describe_secret(secret_id).arn
    except Exception:
        return "*"


def install() -> None:
    """Resource ARNs for KMS, SNS, SSM and Secrets Manager requests (test-only monkeypatch)."""
    KmsResponse._determine_resource = _kms  # type: ignore[method-assign]
    SNSResponse._determine_resource = _sns  # type: ignore[method-assign]
    SimpleSystemManagerResponse._determine_resource = _ssm  # type: ignore[method-assign]
    SecretsManagerResponse._determine_resource = _secrets  # type: ignore[method-assign]


def role_session(admin: Any, role_name: str, region: str) -> Any:
    """A boto3 session with the credentials of ``role_name`` (assumed while IAM is not yet enforced)."""
    account = admin.client("sts").get_caller_identity()["Account"]
    credentials = admin.client("sts").assume_role(
        RoleArn=f"arn:aws:iam::{account}:role/{role_name}", RoleSessionName="lambda"
    )["Credentials"]
    return boto3.Session(
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["SessionToken"],
        region_name=region,
    )


@contextmanager
def enforced() -> Iterator[None]:
    install()
    with enable_iam_authentication():
        yield


def as_role(call: Callable[[], T]) -> T:
    """Run ``call`` with every request authenticated and authorized."""
    with enforced():
        return call()
