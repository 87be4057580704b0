"""s3-bucket-config-restricted: the config-backup bucket's objects are reachable only by the roles the
design allows: the scheduled jobs that use the bucket, and the break-glass role (runbook 1.3).

The bucket policy must deny object access to every principal except a list of role ARNs, and that list
must be exactly: the role of every function of the stack told to use the bucket (MAESTRO_CONFIG_BUCKET;
left out, its job is denied) plus break-glass roles (policy config ``breakGlassRoles``, ARN patterns).
Any other exception, or a wildcard, opens the configuration backups to more than the design allows."""

from __future__ import annotations

import fnmatch

from maestro_policies._base import (
    BUCKET,
    BUCKET_POLICY,
    FUNCTION,
    as_list,
    get,
    label,
    of_type,
    policy_statements,
    settings_of,
    stack_rule,
)
from maestro_policies._buckets import buckets
from maestro_policies._iam import role_for

BREAK_GLASS = ["arn:aws:iam::*:role/*break-glass*"]  # the design names its break-glass role so


def _exceptions(statement) -> list[str] | None:  # type: ignore[no-untyped-def]
    """The principal ARNs a deny-everyone statement on objects exempts, or None if it is not one."""
    if statement.get("Effect") != "Deny" or statement.get("Principal") not in ("*", {"AWS": "*"}):
        return None
    condition = get(statement, "Condition", default={})
    allowed = get(
        condition,
        "ArnNotLike",
        "aws:PrincipalArn",
        default=get(condition, "ArnNotEquals", "aws:PrincipalArn"),
    )
    actions = " ".join(str(a) for a in as_list(statement.get("Action")))
    if not as_list(allowed) or not ("GetObject" in actions or "s3:*" in actions):
        return None
    return [str(a) for a in as_list(allowed)]


def _job_roles(resources, bucket) -> dict[str, str]:  # type: ignore[no-untyped-def]
    """role ARN -> function name, for every function told to use ``bucket``."""
    name = get(bucket.props, "bucket")
    roles = {}
    for function in of_type(resources, FUNCTION):
        if name and get(function.props, "environment", "variables", "MAESTRO_CONFIG_BUCKET") == name:
            role = role_for(resources, function, "role")
            arn = get(role.props, "arn") if role is not None else get(function.props, "role")
            roles[str(arn)] = function.name
    return roles


def _problems(exempt: list[str], jobs: dict[str, str], break_glass: list[str]) -> list[str]:
    problems = [
        f"the role of `{fn}` ({arn}) is not exempt, so its job is denied"
        for arn, fn in jobs.items()
        if arn not in exempt
    ]
    for arn in exempt:
        if "*" in arn or "?" in arn:
            problems.append(f"the exception {arn} is a wildcard")
        elif arn not in jobs and not any(fnmatch.fnmatchcase(arn, p) for p in break_glass):
            problems.append(f"the exception {arn} is neither a job using the bucket nor a break-glass role")
    return problems


def validate(args, report_violation) -> None:  # type: ignore[no-untyped-def]
    resources = list(args.resources)
    break_glass = [str(p) for p in as_list(args.get_config().get("breakGlassRoles", BREAK_GLASS))]
    config_buckets = buckets(resources, "config")
    if not config_buckets:
        report_violation(
            "no config-backup bucket (tag maestro:purpose=config) in the stack (runbook 1.3)", None
        )
    for bucket in config_buckets:
        statements = [
            s
            for p in settings_of(resources, bucket, BUCKET_POLICY)
            for s in policy_statements(get(p.props, "policy"))
        ]
        lists = [found for s in statements if (found := _exceptions(s)) is not None]
        if not lists:
            report_violation(
                f"{label(bucket)} policy does not deny object access to every principal but the "
                "config-backup and break-glass roles (runbook 1.3 restricted access)",
                bucket.urn,
            )
            continue
        for problem in _problems(lists[0], _job_roles(resources, bucket), break_glass):
            report_violation(f"{label(bucket)} restricted access: {problem} (runbook 1.3)", bucket.urn)


RULE = stack_rule(
    "s3-bucket-config-restricted",
    "config-backup bucket admits exactly its jobs' roles and the break-glass role",
    "1.3",
    (),
    (BUCKET,),
    validate,
    config={
        "breakGlassRoles": {
            "type": "array",
            "items": {"type": "string", "minLength": 1},
            "default": BREAK_GLASS,
            "description": "ARN patterns of break-glass roles allowed beside the jobs' roles (runbook 1.3)",
        }
    },
    subjects=lambda resources: buckets(resources, "config"),
)
