"""iam-role-config-backup-no-secret-values: the config backup reads secrets metadata, never values
(runbook 1.3)."""

from __future__ import annotations

from maestro_policies._base import (
    CONFIG_BACKUP_HANDLER,
    FUNCTION,
    ROLE,
    ROLE_POLICY,
    as_list,
    get,
    of_type,
    policy_statements,
    refers,
    stack_rule,
)

VALUE_ACTIONS = ("secretsmanager:getsecretvalue", "secretsmanager:batchgetsecretvalue")


def _grants_values(statement) -> bool:  # type: ignore[no-untyped-def]
    if statement.get("Effect") != "Allow":  # an explicit Deny of the values is what the design adds
        return False
    for action in (str(a).lower() for a in as_list(statement.get("Action"))):
        if (
            action in ("*", "secretsmanager:*", "secretsmanager:get*", "secretsmanager:*secretvalue")
            or action in VALUE_ACTIONS
        ):
            return True
    return False


def _roles(resources):  # type: ignore[no-untyped-def]
    functions = [f for f in of_type(resources, FUNCTION) if get(f.props, "handler") == CONFIG_BACKUP_HANDLER]
    return [r for r in of_type(resources, ROLE) if any(refers(f, r, "role", "arn") for f in functions)]


def validate(args, report_violation) -> None:  # type: ignore[no-untyped-def]
    resources = list(args.resources)
    functions = [f for f in of_type(resources, FUNCTION) if get(f.props, "handler") == CONFIG_BACKUP_HANDLER]
    if not functions:
        report_violation(
            "no config-backup function (handler backupctl.handlers.config_backup) in the stack (runbook 1.3)",
            None,
        )
    for function in functions:
        roles = [r for r in of_type(resources, ROLE) if refers(function, r, "role", "arn")]
        for role in roles:
            documents = [
                get(p.props, "policy")
                for p in of_type(resources, ROLE_POLICY)
                if refers(p, role, "role", "name")
            ]
            documents += [get(p, "policy") for p in as_list(get(role.props, "inlinePolicies"))]
            if any(_grants_values(s) for d in documents for s in policy_statements(d)):
                report_violation(
                    f"role `{role.name}` of the config backup may read secret values; remove "
                    "secretsmanager:GetSecretValue (runbook 1.3 excludes actual secrets)",
                    role.urn,
                )
            if as_list(get(role.props, "managedPolicyArns")):
                report_violation(
                    f"role `{role.name}` of the config backup has managed policies; keep it to its "
                    "inline least-privilege policy",
                    role.urn,
                )


RULE = stack_rule(
    "iam-role-config-backup-no-secret-values",
    "the config-backup role can never read secret values",
    "1.3",
    (),
    (FUNCTION,),
    validate,
    subjects=_roles,
)
