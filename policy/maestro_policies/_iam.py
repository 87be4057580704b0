"""IAM as AWS evaluates it, for the rules that follow references: the statements a role holds (inline
policies, RolePolicy resources, managed policies by name), whether they allow an action on a resource
(wildcards, an explicit Deny wins), and whether a resource policy (a KMS key policy, a topic policy)
admits a service principal. Offline and conservative: a condition never widens what a statement allows.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from pulumi_policy import PolicyResource

from maestro_policies._base import (
    KMS_KEY,
    ROLE,
    ROLE_POLICY,
    as_list,
    get,
    of_type,
    policy_statements,
    refers,
)

ROLE_POLICY_ATTACHMENT = "aws:iam/rolePolicyAttachment:RolePolicyAttachment"


def role_for(resources: Sequence[PolicyResource], owner: PolicyResource, prop: str, *path: str) -> Any:
    """The role in the stack that ``owner.<prop>[.path]`` names (an ARN): by value first, else by an
    unambiguous property dependency; None when the stack does not declare it."""
    arn = get(owner.props, prop, *path)
    roles = of_type(resources, ROLE)
    by_value = [
        r for r in roles if isinstance(arn, str) and arn and (arn == get(r.props, "arn") or _named(arn, r))
    ]
    if by_value:
        return by_value[0]
    deps = {d.urn for d in owner.property_dependencies.get(prop, [])}
    by_dep = [r for r in roles if r.urn in deps]
    return by_dep[0] if len(by_dep) == 1 else None


def _named(arn: Any, role: PolicyResource) -> bool:
    name = get(role.props, "name")
    return isinstance(arn, str) and isinstance(name, str) and bool(name) and arn.endswith(f":role/{name}")


def role_statements(resources: Sequence[PolicyResource], role: PolicyResource) -> list[Mapping[str, Any]]:
    """Every identity-policy statement of ``role``: inline policies and RolePolicy resources."""
    documents = [
        get(p.props, "policy") for p in of_type(resources, ROLE_POLICY) if refers(p, role, "role", "name")
    ]
    documents += [get(p, "policy") for p in as_list(get(role.props, "inlinePolicies"))]
    return [s for d in documents for s in policy_statements(d)]


def managed_policies(resources: Sequence[PolicyResource], role: PolicyResource) -> set[str]:
    """The ARNs of the managed policies attached to ``role`` (attachments and managedPolicyArns)."""
    arns = {str(a) for a in as_list(get(role.props, "managedPolicyArns"))}
    arns |= {
        str(get(a.props, "policyArn"))
        for a in of_type(resources, ROLE_POLICY_ATTACHMENT)
        if refers(a, role, "role", "name")
    }
    return arns


def _matches(patterns: Any, value: str) -> bool:
    return any(fnmatch.fnmatchcase(value.lower(), str(p).lower()) for p in as_list(patterns))


def allows(statements: Iterable[Mapping[str, Any]], action: str, resource: str) -> bool:
    """Whether the statements allow ``action`` on ``resource``; an explicit Deny wins. NotAction and
    NotResource statements are treated as not allowing anything (conservative)."""
    allowed = False
    for statement in statements:
        hit = _matches(statement.get("Action"), action) and (
            "Resource" not in statement or _matches(statement.get("Resource"), resource)
        )
        if not hit:
            continue
        if statement.get("Effect") == "Deny":
            return False
        if statement.get("Effect") == "Allow":
            allowed = True
    return allowed


def admits_service(document: Any, service: str, actions: Sequence[str], resource: str = "*") -> bool:
    """Whether a resource policy lets the service principal ``service`` perform every one of
    ``actions`` on ``resource``: a statement naming the service (its conditions, such as the source
    account, are taken as met) or a principal of ``*`` without conditions; an explicit Deny wins."""
    statements = policy_statements(document)

    def names_service(statement: Mapping[str, Any]) -> bool:
        principal = statement.get("Principal")
        if principal == "*" or get(principal, "AWS") == "*":
            return "Condition" not in statement  # conditions (caller account, via service) are not evaluated
        return service in [str(p) for p in as_list(get(principal, "Service"))]

    mine = [s for s in statements if names_service(s)]
    return all(allows(mine, action, resource) for action in actions)


def key_for(resources: Sequence[PolicyResource], owner: PolicyResource, prop: str) -> PolicyResource | None:
    """The KMS key in the stack that ``owner.<prop>`` names (ARN, key id), by property dependency or value."""
    value = get(owner.props, prop)
    deps = {d.urn for d in owner.property_dependencies.get(prop, [])}
    for key in of_type(resources, KMS_KEY):
        if key.urn in deps or (
            isinstance(value, str) and value and value in (get(key.props, "arn"), get(key.props, "keyId"))
        ):
            return key
    return None
