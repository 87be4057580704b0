"""Shared vocabulary of the policies: property access, bucket references, environment and thresholds.

Props arrive with the engine's camelCase names (inputs at preview, state on a deployed stack).
pulumi-aws 7 keeps bucket settings in separate resources; ``settings_of`` follows their ``bucket``
reference by property dependency first (robust to unknown names at preview) and by name second.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    PolicyConfigSchema,
    PolicyResource,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)

from maestro_policies._scope import is_prod, scoped

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


ENFORCEMENT_LEVELS = ("advisory", "mandatory", "remediate", "disabled")  # exactly what the engine accepts
# SARIF security-severity scores code scanning maps to critical/high/medium/low.
SEVERITY_SCORES = {"critical": "9.5", "high": "8.0", "medium": "5.5", "low": "3.0"}
Subjects = Callable[[Sequence[PolicyResource]], Iterable[PolicyResource]]


@dataclass(frozen=True)
class Rule:
    """A policy plus what the offline runner needs: its runbook section, controls, the resources it
    judges (``subjects``, default: every resource of a ``targets`` type), whether it applies to prod
    only, whether a suppression may silence it in prod, and its severity for code scanning."""

    policy: ResourceValidationPolicy | StackValidationPolicy
    section: str
    controls: tuple[str, ...]
    targets: tuple[str, ...]
    text: str = ""
    prod_only: bool = False
    suppressible: bool = True
    severity: str = "high"
    subjects: Subjects | None = None

    @property
    def name(self) -> str:
        return self.policy.name

    @property
    def level(self) -> str:
        level = self.policy.enforcement_level
        return level.value if level is not None else EnforcementLevel.MANDATORY.value

    @property
    def config(self) -> dict[str, dict[str, Any]]:
        """The policy's config keys and their JSON schemas (default, minimum, maximum, description)."""
        schema = self.policy.config_schema
        return dict(schema.properties) if schema is not None else {}

    @property
    def stack_level(self) -> bool:
        return isinstance(self.policy, StackValidationPolicy)

    def subjects_in(self, resources: Sequence[PolicyResource]) -> list[PolicyResource]:
        """The resources this rule gives a verdict on; the others of its types are not applicable."""
        if self.subjects is not None:
            return list(self.subjects(resources))
        return [r for r in resources if r.resource_type in self.targets]


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
    extra: Mapping[str, Any],
) -> Rule:
    prod_only = bool(extra.get("prod_only", False))
    suppressible = bool(extra.get("suppressible", True))
    policy = kind(
        name=name,
        description=describe(text, section, controls),
        validate=scoped(name, validate, prod_only=prod_only, suppressible=suppressible),
        enforcement_level=level,
        config_schema=PolicyConfigSchema(properties=dict(config)) if config else None,
    )
    severity = extra.get("severity") or ("critical" if not suppressible else "high")
    if level == EnforcementLevel.ADVISORY and not extra.get("severity"):
        severity = "medium"
    return Rule(
        policy,
        section,
        tuple(controls),
        tuple(targets),
        text=text,
        prod_only=prod_only,
        suppressible=suppressible,
        severity=severity,
        subjects=extra.get("subjects"),
    )


def resource_rule(
    name: str,
    text: str,
    section: str,
    controls: Sequence[str],
    targets: Sequence[str],
    validate: Any,
    config: Mapping[str, Any] | None = None,
    level: EnforcementLevel = EnforcementLevel.MANDATORY,
    **extra: Any,
) -> Rule:
    """A rule run once per resource. ``extra``: ``prod_only``, ``suppressible``, ``severity``."""
    return _rule(
        ResourceValidationPolicy, name, text, section, controls, targets, validate, config, level, extra
    )


def stack_rule(
    name: str,
    text: str,
    section: str,
    controls: Sequence[str],
    targets: Sequence[str],
    validate: Any,
    config: Mapping[str, Any] | None = None,
    level: EnforcementLevel = EnforcementLevel.MANDATORY,
    **extra: Any,
) -> Rule:
    """A rule over the whole stack. ``extra``: ``prod_only``, ``suppressible``, ``severity`` and
    ``subjects`` (the resources it judges, when narrower than its target types)."""
    return _rule(
        StackValidationPolicy, name, text, section, controls, targets, validate, config, level, extra
    )


def threshold_schema(default: int, floor: int, why: str, maximum: int | None = None) -> dict[str, Any]:
    """A tunable threshold: it may be tightened from the runbook's value, never loosened below ``floor``."""
    schema: dict[str, Any] = {"type": "integer", "default": default, "minimum": floor, "description": why}
    if maximum is not None:
        schema["maximum"] = maximum
    return schema


@dataclass(frozen=True)
class Limit:
    """A threshold and the words that say where it came from (the runbook, or the policy config)."""

    value: int
    phrase: str


def limit(
    args: ResourceValidationArgs | StackValidationArgs, key: str, default: int, section: str, op: str = ">="
) -> Limit:
    """``key`` from the policy config (validated against the schema before any policy runs), else the
    runbook's ``default``; the phrase names the source: "runbook 1.1 requires >= 7" or "policy config
    minRetentionDays requires >= 10 (runbook 1.1: >= 7)"."""
    value = number(args.get_config().get(key, default))
    if value is None or int(value) == default:
        return Limit(default, f"runbook {section} requires {op} {default}")
    return Limit(
        int(value), f"policy config {key} requires {op} {int(value)} (runbook {section}: {op} {default})"
    )


def number(value: Any) -> float | None:
    """A JSON number as a float; None for anything else (strings, booleans, objects)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


def days(value: Any) -> str:
    """``value`` days in words: "1 day", "7 days", or the value found when it is not a number."""
    count = number(value)
    if count is None:
        return f"{value!r} (not a number of days)"
    shown = int(count) if count.is_integer() else count
    return f"{shown} day" if shown == 1 else f"{shown} days"


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


def invocations(resources: Sequence[Any], handler: str) -> list[tuple[Any, Any]]:
    """(schedule, function) for each Scheduler schedule whose target is a function running ``handler``."""
    functions = [f for f in of_type(resources, FUNCTION) if get(f.props, "handler") == handler]
    found = []
    for schedule in of_type(resources, SCHEDULE):
        arn = get(schedule.props, "target", "arn")
        deps = {d.urn for d in schedule.property_dependencies.get("target", [])}
        for function in functions:
            if (isinstance(arn, str) and arn and arn == get(function.props, "arn")) or function.urn in deps:
                found.append((schedule, function))
                break
    return found


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


__all__ = ["is_prod"]  # the rules import it from here
