"""Shared vocabulary of the policies: property access, bucket references, environment and thresholds.

Props arrive with the engine's camelCase names (inputs at preview, state on a deployed stack).
pulumi-aws 7 keeps bucket settings in separate resources; ``settings_of`` follows their ``bucket``
reference by property dependency first (robust to unknown names at preview) and by name second.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

from pulumi_policy import (
    EnforcementLevel,
    PolicyConfigSchema,
    PolicyResource,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)

RDS_INSTANCE = "aws:rds/instance:Instance"
KMS_KEY = "aws:kms/key:Key"
BUCKET = "aws:s3/bucket:Bucket"
VERSIONING = "aws:s3/bucketVersioning:BucketVersioning"
SSE = "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"
PUBLIC_ACCESS_BLOCK = "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock"
BUCKET_POLICY = "aws:s3/bucketPolicy:BucketPolicy"
LIFECYCLE = "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration"
OBJECT_LOCK = "aws:s3/bucketObjectLockConfiguration:BucketObjectLockConfiguration"
BACKUP_PLAN = "aws:backup/plan:Plan"
BACKUP_SELECTION = "aws:backup/selection:Selection"
BACKUP_VAULT = "aws:backup/vault:Vault"
VAULT_LOCK = "aws:backup/vaultLockConfiguration:VaultLockConfiguration"
VAULT_NOTIFICATIONS = "aws:backup/vaultNotifications:VaultNotifications"
TRAIL = "aws:cloudtrail/trail:Trail"
SCHEDULE = "aws:scheduler/schedule:Schedule"
FUNCTION = "aws:lambda/function:Function"
ROLE = "aws:iam/role:Role"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
EVENT_RULE = "aws:cloudwatch/eventRule:EventRule"
EVENT_TARGET = "aws:cloudwatch/eventTarget:EventTarget"
CONFIG_BACKUP_HANDLER = "backupctl.handlers.config_backup"
KMS_VALIDATE_HANDLER = "backupctl.handlers.kms_validate"
AWS_MANAGED_KEY = re.compile(r"(^|:)alias/aws/")


@dataclass(frozen=True)
class Rule:
    """A policy plus what the offline runner needs: its runbook section, controls and target types."""

    policy: ResourceValidationPolicy | StackValidationPolicy
    section: str
    controls: tuple[str, ...]
    targets: tuple[str, ...]

    @property
    def name(self) -> str:
        return self.policy.name


def describe(text: str, section: str, controls: Sequence[str]) -> str:
    ids = f" [{', '.join(controls)}]" if controls else ""
    return f"Runbook {section}: {text}{ids}"


def _rule(
    kind: type[ResourceValidationPolicy] | type[StackValidationPolicy],
    name: str,
    text: str,
    section: str,
    controls: Sequence[str],
    targets: Sequence[str],
    validate: Any,
    config: Mapping[str, Any] | None,
    level: EnforcementLevel,
) -> Rule:
    policy = kind(
        name=name,
        description=describe(text, section, controls),
        validate=validate,
        enforcement_level=level,
        config_schema=PolicyConfigSchema(properties=dict(config)) if config else None,
    )
    return Rule(policy, section, tuple(controls), tuple(targets))


def resource_rule(
    name: str,
    text: str,
    section: str,
    controls: Sequence[str],
    targets: Sequence[str],
    validate: Any,
    config: Mapping[str, Any] | None = None,
    level: EnforcementLevel = EnforcementLevel.MANDATORY,
) -> Rule:
    return _rule(ResourceValidationPolicy, name, text, section, controls, targets, validate, config, level)


def stack_rule(
    name: str,
    text: str,
    section: str,
    controls: Sequence[str],
    targets: Sequence[str],
    validate: Any,
    config: Mapping[str, Any] | None = None,
    level: EnforcementLevel = EnforcementLevel.MANDATORY,
) -> Rule:
    return _rule(StackValidationPolicy, name, text, section, controls, targets, validate, config, level)


def threshold_schema(default: int, floor: int, why: str) -> dict[str, Any]:
    return {"type": "integer", "default": default, "minimum": floor, "description": why}


def threshold(args: ResourceValidationArgs | StackValidationArgs, key: str, default: int, floor: int) -> int:
    """A tuned threshold from policy config, never below the runbook's floor."""
    value = args.get_config().get(key, default)
    try:
        return max(int(value), floor)
    except (TypeError, ValueError):
        return default


def get(props: Mapping[str, Any] | None, *path: str | int, default: Any = None) -> Any:
    current: Any = props
    for step in path:
        if isinstance(step, int):
            if not isinstance(current, Sequence) or isinstance(current, str) or len(current) <= step:
                return default
            current = current[step]
        else:
            if not isinstance(current, Mapping) or step not in current:
                return default
            current = current[step]
    return current if current is not None else default


def tags(props: Mapping[str, Any]) -> Mapping[str, str]:
    value = get(props, "tags", default={})
    return value if isinstance(value, Mapping) else {}


def label(resource: PolicyResource | ResourceValidationArgs) -> str:
    return f"{resource.resource_type.split(':')[-1]} `{resource.name}`"


def is_prod(resources: Iterable[PolicyResource] | Mapping[str, Any]) -> bool:
    if isinstance(resources, Mapping):
        return tags(cast(Mapping[str, Any], resources)).get("maestro:environment") == "prod"
    return any(tags(r.props).get("maestro:environment") == "prod" for r in resources)


def of_type(resources: Iterable[PolicyResource], token: str) -> list[PolicyResource]:
    return [r for r in resources if r.resource_type == token]


def _refers_to(setting: PolicyResource, target: PolicyResource, prop: str, target_prop: str) -> bool:
    deps = setting.property_dependencies.get(prop, [])
    if any(d.urn == target.urn for d in deps):
        return True
    value = get(setting.props, prop)
    return value is not None and value in (get(target.props, target_prop), get(target.props, "id"))


def settings_of(
    resources: Iterable[PolicyResource], bucket: PolicyResource, token: str
) -> list[PolicyResource]:
    """The separate settings resources (versioning, lifecycle, ...) that point at ``bucket``."""
    return [r for r in resources if r.resource_type == token and _refers_to(r, bucket, "bucket", "bucket")]


def refers(setting: PolicyResource, target: PolicyResource, prop: str, target_prop: str) -> bool:
    return _refers_to(setting, target, prop, target_prop)


def policy_statements(document: Any) -> list[Mapping[str, Any]]:
    if isinstance(document, str):
        try:
            document = json.loads(document)
        except json.JSONDecodeError:
            return []
    statements = get(document, "Statement", default=[])
    if isinstance(statements, Mapping):
        return [statements]
    return [s for s in statements if isinstance(s, Mapping)] if isinstance(statements, list) else []


def as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, (list, tuple)) else [value]


def schedules_invoking(resources: Sequence[Any], handler: str) -> list[Any]:
    """The Scheduler schedules whose target is a Lambda function running ``handler``."""
    functions = [f for f in of_type(resources, FUNCTION) if get(f.props, "handler") == handler]
    targets = {get(f.props, "arn") for f in functions} | {f.urn for f in functions}
    return [
        s
        for s in of_type(resources, SCHEDULE)
        if get(s.props, "target", "arn") in targets
        or any(d.urn in targets for d in s.property_dependencies.get("target", []))
    ]


def cron_kind(expression: str) -> str:
    """daily, weekly, monthly, hourly or other, from an AWS cron()/rate() expression."""
    text = expression.strip()
    if text.startswith("rate("):
        amount, _, unit = text[5:-1].strip().partition(" ")
        unit = unit.rstrip("s")
        return (
            {"day": "daily", "hour": "hourly", "minute": "hourly"}.get(unit, "other")
            if amount == "1"
            else "other"
        )
    fields = text[5:-1].split() if text.startswith("cron(") else []
    if len(fields) != 6:
        return "other"
    _minute, hour, dom, _month, dow, _year = fields
    if dow not in ("?", "*"):
        return "weekly"
    if dom in ("*", "?"):
        return "hourly" if hour in ("*",) or "/" in hour else "daily"
    if dom.isdigit() and _month in ("*", "?"):
        return "monthly"
    return "other"


__all__ = ["ReportViolation"]
