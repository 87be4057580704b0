"""iam-service-linked-role-principal-exists: a policy naming a service-linked role as Principal names one
the stack declares (or imports) and waits for (runbook 4: the audit trail must deploy).

A service-linked role exists only once its service made it (AWSServiceRoleForBackupReports: after the
first framework or report plan); S3, KMS and SNS reject a policy naming a principal that does not exist
("Invalid principal in policy"), and the frameworks depend on that very policy. parliament checks the
shape of an ARN, never its existence, so this rule is the check.
"""

from __future__ import annotations

from collections.abc import Mapping

from maestro_policies._base import (
    BUCKET_POLICY,
    KMS_KEY,
    as_list,
    get,
    of_type,
    policy_statements,
    stack_rule,
)
from maestro_policies._wiring import QUEUE, SERVICE_LINKED_ROLE, TOPIC_POLICY, VAULT_POLICY

POLICY_HOLDERS = {
    BUCKET_POLICY: "policy",
    KMS_KEY: "policy",
    TOPIC_POLICY: "policy",
    VAULT_POLICY: "policy",
    QUEUE: "policy",
}
MARKER = ":role/aws-service-role/"


def _named(document) -> set[str]:  # type: ignore[no-untyped-def]
    names = set()
    for statement in policy_statements(document):
        principal = statement.get("Principal")
        if isinstance(principal, Mapping):
            names |= {str(p) for p in as_list(principal.get("AWS")) if MARKER in str(p)}
    return names


def validate(args, report_violation) -> None:  # type: ignore[no-untyped-def]
    resources = list(args.resources)
    declared = {get(r.props, "arn"): r for r in of_type(resources, SERVICE_LINKED_ROLE)}
    for token, prop in POLICY_HOLDERS.items():
        for holder in of_type(resources, token):
            waits = {d.urn for d in holder.dependencies}
            for arn in sorted(_named(get(holder.props, prop))):
                role = declared.get(arn)
                if role is None:
                    report_violation(
                        f"{holder.name} names the service-linked role {arn}, not declared by the stack: "
                        "it may not exist yet and AWS rejects the policy (Invalid principal); declare it "
                        "(aws.iam.ServiceLinkedRole, imported where it exists) and depend on it",
                        holder.urn,
                    )
                elif role.urn not in waits:
                    report_violation(
                        f"{holder.name} names the service-linked role `{role.name}` but does not depend on "
                        "it: the policy can be applied before the role exists; add depends_on",
                        holder.urn,
                    )


RULE = stack_rule(
    "iam-service-linked-role-principal-exists",
    "a policy naming a service-linked role names one the stack declares and waits for",
    "4",
    (),
    (BUCKET_POLICY,),
    validate,
)
