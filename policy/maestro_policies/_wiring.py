"""What the wiring rules share (issue 10): who a resource's role is, what its policies allow, which
services a key policy admits, and lookups by ARN.

The wiring rules check what mocks and moto cannot: that one resource's needs are granted by another
(a traced function's role may write traces, a schedule's role may decrypt its key, a CMK admits the
services that publish to the topic it encrypts). Values are compared where the export has them and
property dependencies are followed where it does not; a document that is not known yet (a preview of
a stack whose ARNs are computed) is skipped rather than guessed.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from pulumi_policy import PolicyResource

from maestro_policies._base import ROLE, ROLE_POLICY, as_list, get, of_type, policy_statements, refers

SERVICE_LINKED_ROLE = "aws:iam/serviceLinkedRole:ServiceLinkedRole"
TOPIC = "aws:sns/topic:Topic"
TOPIC_POLICY = "aws:sns/topicPolicy:TopicPolicy"
QUEUE = "aws:sqs/queue:Queue"
METRIC_ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"
INVOKE_CONFIG = "aws:lambda/functionEventInvokeConfig:FunctionEventInvokeConfig"
VAULT_POLICY = "aws:backup/vaultPolicy:VaultPolicy"
RESTORE_TESTING_SELECTION = "aws:backup/restoreTestingSelection:RestoreTestingSelection"

Statement = Mapping[str, Any]


def by_arn(resources: Iterable[PolicyResource], token: str, arn: Any) -> PolicyResource | None:
    """The resource of ``token`` whose ``arn`` (or id) is ``arn``."""
    if not isinstance(arn, str) or not arn:
        return None
    for r in of_type(resources, token):
        if arn in (get(r.props, "arn"), get(r.props, "id")):
            return r
    return None


def role_of(resources: Sequence[PolicyResource], resource: PolicyResource, prop: str, arn: Any) -> Any:
    """The role ``resource`` names in ``prop`` (its ARN value ``arn``), by value or by dependency."""
    found = by_arn(resources, ROLE, arn)
    if found is not None:
        return found
    deps = [d for d in resource.property_dependencies.get(prop, []) if d.resource_type == ROLE]
    return deps[0] if len(deps) == 1 else None


def role_policies(resources: Sequence[PolicyResource], role: PolicyResource) -> list[PolicyResource]:
    return [p for p in of_type(resources, ROLE_POLICY) if refers(p, role, "role", "name")]


def _matches(patterns: Any, value: str, *, case: bool) -> bool:
    if case:
        return any(fnmatch.fnmatchcase(value, str(p)) for p in as_list(patterns))
    return any(fnmatch.fnmatchcase(value.lower(), str(p).lower()) for p in as_list(patterns))


def allows(statements: Iterable[Statement], action: str, resource: str) -> bool:
    """An Allow covers ``action`` on ``resource`` and no unconditional Deny takes it back."""
    granted = denied = False
    for s in statements:
        if not _matches(s.get("Action"), action, case=False) or "Resource" not in s:
            continue
        if not _matches(s.get("Resource"), resource, case=True):
            continue
        if s.get("Effect") == "Allow":
            granted = True
        elif s.get("Effect") == "Deny" and not s.get("Condition"):
            denied = True
    return granted and not denied


def service_grants(document: Any, service: str) -> list[Statement]:
    """The Allow statements of a resource policy whose Principal.Service names ``service``."""
    found = []
    for s in policy_statements(document):
        principal = s.get("Principal")
        services = as_list(principal.get("Service")) if isinstance(principal, Mapping) else []
        if s.get("Effect") == "Allow" and service in services:
            found.append(s)
    return found


def known_document(document: Any) -> bool:
    """A policy document whose value the export holds (a string or an object with statements)."""
    return bool(policy_statements(document))
