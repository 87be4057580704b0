"""Every policy document of both stacks, linted with parliament (issue 10).

IAM role policies, trust policies, key policies, bucket, topic and vault policies, as the preview export
holds them. parliament carries its own IAM action data (offline): an unknown action, an action on a
resource of the wrong type, a malformed statement or condition is a finding, and any finding fails
unless it is one of the exceptions below, each with its reason. parliament checks shapes, not
existence (a principal that does not exist yet passes): the wiring policies cover that.
"""

from __future__ import annotations

import copy
import json
import warnings
from dataclasses import dataclass
from typing import Any

import pytest

from tests.conftest import Deployment

with warnings.catch_warnings():  # parliament imports pkg_resources, deprecated in setuptools
    warnings.simplefilter("ignore")
    from parliament import analyze_policy_string, enhance_finding

# Where the program keeps policy documents: type token -> input property.
DOCUMENTS = {
    "aws:iam/rolePolicy:RolePolicy": "policy",
    "aws:iam/role:Role": "assumeRolePolicy",
    "aws:kms/key:Key": "policy",
    "aws:s3/bucketPolicy:BucketPolicy": "policy",
    "aws:sns/topicPolicy:TopicPolicy": "policy",
    "aws:backup/vaultPolicy:VaultPolicy": "policy",
    "aws:sqs/queue:Queue": "policy",
}


@dataclass(frozen=True)
class Excused:
    token: str  # where the finding may occur
    issue: str  # parliament's finding code
    detail: str  # a piece of its detail that must appear
    reason: str


# The only findings allowed, one place, each with why it is not a problem.
EXCEPTIONS = (
    Excused(
        "aws:iam/role:Role",
        "MALFORMED",
        "neither Resource nor NotResource",
        "a trust policy has no Resource: the role itself is the resource "
        "(https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_resource.html)",
    ),
    Excused(
        "aws:kms/key:Key",
        "RESOURCE_STAR",
        "",
        'in a key policy "Resource": "*" means this key and nothing else '
        "(https://docs.aws.amazon.com/kms/latest/developerguide/key-policy-overview.html)",
    ),
    Excused(
        "aws:kms/key:Key",
        "MISMATCHED_TYPE",
        "ArnLike requires a value of type Arn but given String",
        "kms:EncryptionContext:aws:logs:arn with ArnLike is CloudWatch Logs' documented condition "
        "(https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/encrypt-log-data-kms.html); parliament "
        "types every encryption-context key as String",
    ),
)


def _allowed(token: str, issue: str, detail: str) -> Excused | None:
    for exception in EXCEPTIONS:
        if exception.token == token and exception.issue == issue and exception.detail in detail:
            return exception
    return None


def lint(raw: dict[str, Any]) -> tuple[list[str], set[Excused]]:
    """Findings not excused (``<name>: <ISSUE> <severity> <detail>``) and the exceptions that applied."""
    problems: list[str] = []
    used: set[Excused] = set()
    for resource in raw["deployment"]["resources"]:
        prop = DOCUMENTS.get(resource["type"])
        document = resource["inputs"].get(prop) if prop else None
        if not document:
            continue
        text = document if isinstance(document, str) else json.dumps(document)
        for raw_finding in analyze_policy_string(text).findings:
            finding = enhance_finding(raw_finding)
            detail = json.dumps(finding.detail, default=str)
            exception = _allowed(resource["type"], finding.issue, detail)
            if exception is not None:
                used.add(exception)
                continue
            name = resource["urn"].rsplit("::", 1)[-1]
            problems.append(f"{name}: {finding.issue} {finding.severity} {detail}")
    return problems, used


@pytest.mark.parametrize("stack_name", ["staging", "prod"])
def test_every_policy_document_passes_parliament(deployments: dict[str, Deployment], stack_name: str) -> None:
    problems, _ = lint(deployments[stack_name].raw)
    assert problems == []


def test_every_exception_is_still_needed(deployments: dict[str, Deployment]) -> None:
    used = set().union(*(lint(d.raw)[1] for d in deployments.values()))
    assert used == set(EXCEPTIONS), [e.reason for e in set(EXCEPTIONS) - used]


def _add_statement(raw: dict[str, Any], name: str, statement: dict[str, Any]) -> dict[str, Any]:
    mutated = copy.deepcopy(raw)
    (policy,) = [
        r
        for r in mutated["deployment"]["resources"]
        if r["type"] == "aws:iam/rolePolicy:RolePolicy" and r["urn"].endswith(name)
    ]
    doc = json.loads(policy["inputs"]["policy"])
    doc["Statement"].append(statement)
    policy["inputs"]["policy"] = json.dumps(doc)
    return mutated


@pytest.mark.parametrize(
    ("statement", "issue"),
    [
        ({"Effect": "Allow", "Action": "kms:GenerateDataKeys", "Resource": "*"}, "UNKNOWN_ACTION"),
        (
            {"Effect": "Allow", "Action": "s3:ListBucket", "Resource": "arn:aws:s3:::bucket/config/*"},
            "RESOURCE_MISMATCH",
        ),
        (
            {
                "Effect": "Allow",
                "Action": "kms:Decrypt",
                "Resource": "arn:aws:kms:eu-west-1:111122223333:alias/x",
            },
            "RESOURCE_MISMATCH",
        ),
        ({"Effect": "Allow", "Action": "s3:GetObject"}, "MALFORMED"),
    ],
)
def test_a_wrong_statement_in_a_role_policy_is_a_finding(
    staging: Deployment, statement: dict[str, Any], issue: str
) -> None:
    problems, _ = lint(_add_statement(staging.raw, "kms-validate-role-policy", statement))
    assert [p for p in problems if f": {issue} " in p], problems
