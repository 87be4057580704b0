"""Every stack setting, read once, typed and checked against the runbook's bounds.

This is the only module that touches ``pulumi.Config``. ``parse_settings`` is a pure function over
plain values, so validation is tested without the Pulumi runtime; ``load_settings`` feeds it from the
stack configuration. A bad value raises ``SettingsError`` with one line naming the key, what was
expected and what was found.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

NAMESPACE = "maestro-backup"

# Runbook bounds. Each floor is the runbook's own number; stacks may be stricter, never looser.
MIN_SNAPSHOT_RETENTION_DAYS = 7  # 1.1 daily snapshots retained 7 days
MAX_RDS_RETENTION_DAYS = 35  # RDS automated backups allow at most 35 days
# The vault lock's maximum retention: a rule keeping recovery points longer makes every job fail, and
# nobody keeps a recovery point beyond a year and a quarter by mistake.
VAULT_LOCK_MAX_RETENTION_DAYS = 400
MAX_LOCK_DAYS = 36500  # S3 Object Lock and AWS Backup vault lock allow at most 100 years
MAX_STORAGE_GB = 65536  # RDS gp3 storage limit
MAX_DIGITS = 30  # longer numbers in a stack file are typos
# What a `secure:` value reads as offline (backupctl preview cannot decrypt): an opaque valid string.
OFFLINE_SECRET = "[secret: not decrypted offline]"
MIN_WEEKLY_RETENTION_DAYS = 30  # 1.1 weekly basebackups retained 30 days
MIN_EVIDENCE_LOCK_DAYS = 90  # 1.2 evidence WORM retention, 90 days minimum
MIN_VAULT_LOCK_CHANGEABLE_DAYS = 3  # AWS Backup: compliance lock grace period is at least 3 days
KEY_ROTATION_PERIOD_DAYS = 365  # 3: CMKs rotate annually
ARTIFACTS_IA_DAYS = 30  # 1.2 artifacts/ -> STANDARD_IA
ARTIFACTS_GLACIER_DAYS = 90  # 1.2 artifacts/ -> GLACIER
ARTIFACTS_EXPIRE_DAYS = 180  # 1.2 artifacts/ expire

# Runbook 2.2 targets per criticality: (RPO minutes, RTO minutes).
CRITICALITY_TARGETS: dict[str, tuple[int, int]] = {
    "critical": (15, 4 * 60),
    "standard": (4 * 60, 24 * 60),
}

Environment = Literal["staging", "prod"]
LockMode = Literal["GOVERNANCE", "COMPLIANCE"]
VaultLockMode = Literal["none", "governance", "compliance"]

_NAME_RE = re.compile(r"^[a-z][a-z0-9-]{0,29}$")
_REGION_RE = re.compile(r"^[a-z]{2}(-gov)?-[a-z]+-\d$")
_ARN_RE = re.compile(r"^arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]+$")
_VPC_RE = re.compile(r"^vpc-[0-9a-f]{8,17}$")
_SUBNET_RE = re.compile(r"^subnet-[0-9a-f]{8,17}$")
_SG_RE = re.compile(r"^sg-[0-9a-f]{8,17}$")
_SSM_PATH_RE = re.compile(r"^(/[\w.-]+)+$")
_SCHEDULE_RE = re.compile(r"^(cron|rate)\(.+\)$")
_INSTANCE_CLASS_RE = re.compile(r"^db\.[a-z0-9]+\.[a-z0-9]+$")
_REPORTS_ROLE_RE = re.compile(
    r"^arn:aws[a-z-]*:iam::\d{12}:role/aws-service-role/reports\.backup\.amazonaws\.com/"
    r"AWSServiceRoleForBackupReports$"
)
# Pulumi.yaml's default for the lock modes: the environment decides (governance/GOVERNANCE in staging,
# compliance/COMPLIANCE in prod), so a new stack needs neither key.
BY_ENVIRONMENT = "auto"


class SettingsError(ValueError):
    """One invalid setting: the key, the expectation and the value found."""

    def __init__(self, key: str, expected: str, found: object) -> None:
        self.key = key
        full = key if ":" in key else f"{NAMESPACE}:{key}"
        super().__init__(f"{full}: expected {expected}, found {found!r}")


@dataclass(frozen=True)
class DatabaseSpec:
    """One PostgreSQL database protected by the runbook (section 1.1)."""

    name: str
    criticality: Literal["critical", "standard"]
    instance_class: str = "db.t4g.medium"
    allocated_storage_gb: int = 50
    max_allocated_storage_gb: int = 200
    engine_version: str = "15"
    multi_az: bool = False
    adopt_identifier: str | None = (
        None  # an existing instance, imported by `backupctl adopt` + `pulumi import`
    )

    @property
    def rpo_minutes(self) -> int:
        return CRITICALITY_TARGETS[self.criticality][0]

    @property
    def rto_minutes(self) -> int:
        return CRITICALITY_TARGETS[self.criticality][1]


@dataclass(frozen=True)
class Settings:
    """The whole stack configuration, validated."""

    environment: Environment
    region: str
    databases: tuple[DatabaseSpec, ...]
    vpc_id: str
    subnet_ids: tuple[str, ...]
    app_security_group_ids: tuple[str, ...]
    break_glass_role_arn: str
    name_prefix: str = "maestro"
    backup_retention_days: int = MIN_SNAPSHOT_RETENTION_DAYS
    daily_retention_days: int = MIN_SNAPSHOT_RETENTION_DAYS
    weekly_retention_days: int = MIN_WEEKLY_RETENTION_DAYS
    deletion_protection: bool = True
    vault_lock_mode: VaultLockMode = "compliance"
    vault_lock_changeable_days: int = MIN_VAULT_LOCK_CHANGEABLE_DAYS
    evidence_lock_mode: LockMode = "COMPLIANCE"
    evidence_lock_days: int = MIN_EVIDENCE_LOCK_DAYS
    evidence_archive_after_days: int = MIN_EVIDENCE_LOCK_DAYS
    parameter_paths: tuple[str, ...] = ("/maestro/policies", "/maestro/routing-pins")
    secrets_prefix: str = "maestro/"
    config_backup_schedule: str = "cron(15 2 * * ? *)"
    kms_validation_schedule: str = "cron(0 6 1 * ? *)"
    schedule_timezone: str = "UTC"
    drill_target: bool = False
    drill_subnet_ids: tuple[str, ...] = ()
    dr_region: str | None = None
    alert_email: str | None = None
    backup_reports_role_arn: str | None = None  # an existing AWSServiceRoleForBackupReports to import
    tags: Mapping[str, str] = field(default_factory=dict)

    @property
    def protect(self) -> bool:
        """Stateful resources are protected from `pulumi destroy` in prod (nothing lost)."""
        return self.environment == "prod"

    @property
    def has_critical(self) -> bool:
        return any(db.criticality == "critical" for db in self.databases)


# ---------------------------------------------------------------------------------------------- parsing


def _as_json(key: str, raw: Any) -> Any:
    if isinstance(raw, str):
        text = raw.strip()
        if text[:1] in "[{":
            try:
                return json.loads(text)
            except json.JSONDecodeError as exc:
                raise SettingsError(key, "valid JSON", raw) from exc
    return raw


def _str(
    values: Mapping[str, Any],
    key: str,
    *,
    pattern: re.Pattern[str] | None = None,
    expected: str = "",
    default: str | None = None,
    required: bool = False,
) -> str | None:
    raw = values.get(key)
    if raw is None or raw == "":
        if required:
            raise SettingsError(key, expected or "a value", None)
        return default
    if not isinstance(raw, str):
        raise SettingsError(key, expected or "a string", raw)
    if raw == OFFLINE_SECRET:  # a secure value under `backupctl preview`: decrypted, it is checked for real
        return raw
    if pattern is not None and not pattern.match(raw):
        raise SettingsError(key, expected, raw)
    return raw


def _req(values: Mapping[str, Any], key: str, pattern: re.Pattern[str], expected: str) -> str:
    value = _str(values, key, pattern=pattern, expected=expected, required=True)
    assert value is not None
    return value


def _int(
    values: Mapping[str, Any],
    key: str,
    default: int,
    *,
    minimum: int,
    maximum: int | None = None,
    why: str = "",
    label: str | None = None,
) -> int:
    raw = values.get(key)
    if raw is None or raw in ("", OFFLINE_SECRET):
        return default
    bound = f"an integer >= {minimum}" + (f" and <= {maximum}" if maximum is not None else "")
    bound += f" ({why})" if why else ""
    text = str(raw).strip()
    digits = re.fullmatch(rf"(-?\d{{1,{MAX_DIGITS}}})(\.0)?", text)
    value = None if isinstance(raw, bool) or digits is None else int(digits.group(1))
    if value is None or value < minimum or (maximum is not None and value > maximum):
        raise SettingsError(label or key, bound, raw)
    return value


def _bool(values: Mapping[str, Any], key: str, default: bool) -> bool:
    raw = values.get(key)
    if raw is None or raw in ("", OFFLINE_SECRET):
        return default
    if isinstance(raw, bool):
        return raw
    if isinstance(raw, str) and raw.lower() in ("true", "false"):
        return raw.lower() == "true"
    raise SettingsError(key, "true or false", raw)


def _list(
    values: Mapping[str, Any],
    key: str,
    item: re.Pattern[str],
    expected: str,
    *,
    default: tuple[str, ...] = (),
    min_items: int = 0,
) -> tuple[str, ...]:
    raw = _as_json(key, values.get(key))
    if raw is None or raw in ("", OFFLINE_SECRET):
        raw = list(default)
    if not isinstance(raw, list) or not all(isinstance(v, str) and item.match(v) for v in raw):
        raise SettingsError(key, f"a list of {expected}", raw)
    if len(raw) < min_items:
        raise SettingsError(key, f"at least {min_items} {expected}", raw)
    return tuple(raw)


def _choice(values: Mapping[str, Any], key: str, choices: tuple[str, ...], default: str | None) -> str:
    raw = values.get(key, default)
    if raw is None or raw == "" or (raw == BY_ENVIRONMENT and default is not None):
        raw = default
    if raw not in choices:
        more = f"|{BY_ENVIRONMENT}" if default is not None else ""
        raise SettingsError(key, "one of " + "|".join(choices) + more, raw)
    return str(raw)


_DB_KEYS = {
    "name",
    "criticality",
    "instanceClass",
    "allocatedStorage",
    "maxAllocatedStorage",
    "engineVersion",
    "multiAz",
    "adoptIdentifier",
}


def _database(index: int, raw: Any) -> DatabaseSpec:
    key = f"databases[{index}]"
    if not isinstance(raw, dict):
        raise SettingsError(key, "an object with name and criticality", raw)
    unknown = sorted(set(raw) - _DB_KEYS)
    if unknown:
        raise SettingsError(f"{key}.{unknown[0]}", "one of " + ", ".join(sorted(_DB_KEYS)), unknown[0])
    name = raw.get("name")
    if not isinstance(name, str) or not _NAME_RE.match(name):
        raise SettingsError(f"{key}.name", "a lower-case name of letters, digits and '-' (max 30)", name)
    criticality = raw.get("criticality")
    if criticality not in CRITICALITY_TARGETS:
        raise SettingsError(f"{key}.criticality", "critical|standard (runbook 2.2)", criticality)
    instance_class = raw.get("instanceClass", "db.t4g.medium")
    if not isinstance(instance_class, str) or not _INSTANCE_CLASS_RE.match(instance_class):
        raise SettingsError(
            f"{key}.instanceClass", "an RDS instance class like db.t4g.medium", instance_class
        )
    storage = _int(
        raw,
        "allocatedStorage",
        50,
        minimum=20,
        maximum=MAX_STORAGE_GB,
        why="GiB",
        label=f"{key}.allocatedStorage",
    )
    max_storage = _int(
        raw,
        "maxAllocatedStorage",
        max(storage * 4, 100),
        minimum=storage,
        maximum=MAX_STORAGE_GB,
        why="GiB, at least allocatedStorage",
        label=f"{key}.maxAllocatedStorage",
    )
    engine_version = str(raw.get("engineVersion", "15"))
    if not re.match(r"^1[3-9](\.\d+)?$", engine_version):
        raise SettingsError(
            f"{key}.engineVersion", "a PostgreSQL major or minor version 13..19", engine_version
        )
    multi_az = raw.get("multiAz", criticality == "critical")
    if not isinstance(multi_az, bool):
        raise SettingsError(f"{key}.multiAz", "true or false", multi_az)
    adopt = raw.get("adoptIdentifier")
    if adopt is not None and (not isinstance(adopt, str) or not re.match(r"^[a-z][a-z0-9-]{0,62}$", adopt)):
        raise SettingsError(f"{key}.adoptIdentifier", "an existing RDS instance identifier", adopt)
    return DatabaseSpec(
        name=name,
        criticality=criticality,
        instance_class=instance_class,
        allocated_storage_gb=storage,
        max_allocated_storage_gb=max_storage,
        engine_version=engine_version,
        multi_az=multi_az,
        adopt_identifier=adopt,
    )


def _databases(values: Mapping[str, Any]) -> tuple[DatabaseSpec, ...]:
    """Runbook 1.1 and 2.2: the databases and their criticality."""
    raw_dbs = _as_json("databases", values.get("databases"))
    if not isinstance(raw_dbs, list) or not raw_dbs:
        raise SettingsError("databases", "a non-empty list of {name, criticality, ...}", raw_dbs)
    databases = tuple(_database(i, d) for i, d in enumerate(raw_dbs))
    names = [d.name for d in databases]
    duplicate = next((n for n in names if names.count(n) > 1), None)
    if duplicate:
        raise SettingsError("databases", "unique database names", duplicate)
    return databases


def _retention(values: Mapping[str, Any], prod: bool) -> dict[str, Any]:
    """Runbook 1.1: automated backups, the AWS Backup rules and the vault lock."""
    deletion_protection = _bool(values, "deletionProtection", True)
    if prod and not deletion_protection:
        raise SettingsError(
            "deletionProtection", "true in prod (nothing lost)", values.get("deletionProtection")
        )
    vault_lock = _choice(
        values, "vaultLockMode", ("none", "governance", "compliance"), "compliance" if prod else "governance"
    )
    if prod and vault_lock != "compliance":
        raise SettingsError("vaultLockMode", "compliance in prod", vault_lock)
    return {
        "backup_retention_days": _int(
            values,
            "backupRetentionDays",
            MIN_SNAPSHOT_RETENTION_DAYS,
            minimum=MIN_SNAPSHOT_RETENTION_DAYS,
            maximum=MAX_RDS_RETENTION_DAYS,
            why="runbook 1.1 keeps daily snapshots 7 days; RDS allows 35",
        ),
        "daily_retention_days": _int(
            values,
            "dailyRetentionDays",
            MIN_SNAPSHOT_RETENTION_DAYS,
            minimum=MIN_SNAPSHOT_RETENTION_DAYS,
            maximum=VAULT_LOCK_MAX_RETENTION_DAYS,
            why=f"runbook 1.1 daily snapshots 7 days; the vault lock keeps at most "
            f"{VAULT_LOCK_MAX_RETENTION_DAYS}",
        ),
        "weekly_retention_days": _int(
            values,
            "weeklyRetentionDays",
            MIN_WEEKLY_RETENTION_DAYS,
            minimum=MIN_WEEKLY_RETENTION_DAYS,
            maximum=VAULT_LOCK_MAX_RETENTION_DAYS,
            why=f"runbook 1.1 weekly basebackups 30 days; the vault lock keeps at most "
            f"{VAULT_LOCK_MAX_RETENTION_DAYS}",
        ),
        "deletion_protection": deletion_protection,
        "vault_lock_mode": vault_lock,
        "vault_lock_changeable_days": _int(
            values,
            "vaultLockChangeableDays",
            MIN_VAULT_LOCK_CHANGEABLE_DAYS,
            minimum=MIN_VAULT_LOCK_CHANGEABLE_DAYS,
            maximum=MAX_LOCK_DAYS,
            why="AWS Backup compliance-mode grace time",
        ),
    }


def _evidence(values: Mapping[str, Any], prod: bool) -> dict[str, Any]:
    """Runbook 1.2: the evidence bucket's Object Lock and its archive after the lock."""
    lock_mode = _choice(
        values, "evidenceLockMode", ("GOVERNANCE", "COMPLIANCE"), "COMPLIANCE" if prod else "GOVERNANCE"
    )
    if prod and lock_mode != "COMPLIANCE":
        raise SettingsError("evidenceLockMode", "COMPLIANCE in prod (runbook 1.2 WORM)", lock_mode)
    lock_days = _int(
        values,
        "evidenceLockDays",
        MIN_EVIDENCE_LOCK_DAYS,
        minimum=MIN_EVIDENCE_LOCK_DAYS,
        maximum=MAX_LOCK_DAYS,
        why="runbook 1.2 evidence retention is 90 days minimum; Object Lock allows 100 years",
    )
    archive_after = _int(
        values,
        "evidenceArchiveAfterDays",
        lock_days,
        minimum=lock_days,
        maximum=MAX_LOCK_DAYS,
        why="runbook 1.2 archives to DEEP_ARCHIVE only after the lock expires",
    )
    return {
        "evidence_lock_mode": lock_mode,
        "evidence_lock_days": lock_days,
        "evidence_archive_after_days": archive_after,
    }


SCHEDULE_EXPECTED = "an EventBridge Scheduler expression cron(...) or rate(...)"


def _configuration(values: Mapping[str, Any]) -> dict[str, Any]:
    """Runbook 1.3 and 3: what the config backup reads and when the scheduled jobs run."""

    def text(key: str, pattern: re.Pattern[str], expected: str, default: str) -> str:
        return _str(values, key, pattern=pattern, expected=expected, default=default) or default

    return {
        "parameter_paths": _list(
            values,
            "parameterPaths",
            _SSM_PATH_RE,
            "SSM parameter paths (/a/b)",
            default=("/maestro/policies", "/maestro/routing-pins"),
            min_items=1,
        ),
        "secrets_prefix": text(
            "secretsPrefix", re.compile(r"^[\w/+=.@-]+$"), "a Secrets Manager name prefix", "maestro/"
        ),
        "config_backup_schedule": text(
            "configBackupSchedule", _SCHEDULE_RE, SCHEDULE_EXPECTED, "cron(15 2 * * ? *)"
        ),
        "kms_validation_schedule": text(
            "kmsValidationSchedule", _SCHEDULE_RE, SCHEDULE_EXPECTED, "cron(0 6 1 * ? *)"
        ),
        "schedule_timezone": text(
            "scheduleTimezone",
            re.compile(r"^[A-Za-z_]+(/[A-Za-z_+-]+)*$"),
            "an IANA timezone like Europe/Berlin",
            "UTC",
        ),
    }


def _network(values: Mapping[str, Any], prod: bool, region: str) -> dict[str, Any]:
    """Runbook 1.1 and 2.1 step 1: the databases' network, the isolated drill network, the DR region."""
    drill_target = _bool(values, "drillTarget", False)
    if prod and drill_target:
        raise SettingsError("drillTarget", "false in prod (runbook 2: drills run on staging)", True)
    dr_region = _str(values, "drRegion", pattern=_REGION_RE, expected="an AWS region like eu-central-1")
    if dr_region == region:
        raise SettingsError("drRegion", f"a region other than aws:region ({region})", dr_region)
    return {
        "vpc_id": _req(values, "vpcId", _VPC_RE, "a VPC id (vpc-...)"),
        "subnet_ids": _list(values, "subnetIds", _SUBNET_RE, "subnet ids (subnet-...)", min_items=2),
        "app_security_group_ids": _list(values, "appSecurityGroupIds", _SG_RE, "security group ids (sg-...)"),
        "drill_target": drill_target,
        "drill_subnet_ids": _list(
            values,
            "drillSubnetIds",
            _SUBNET_RE,
            "subnet ids (subnet-...)",
            min_items=2 if drill_target else 0,
        ),
        "dr_region": dr_region,
    }


def _ownership(values: Mapping[str, Any]) -> dict[str, Any]:
    """Who is told and who may break glass (runbook 1.3, 4), names and tags."""
    tags = _as_json("tags", values.get("tags")) or {}
    if not isinstance(tags, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in tags.items()
    ):
        raise SettingsError("tags", "a map of string to string", tags)
    return {
        "break_glass_role_arn": _req(values, "breakGlassRoleArn", _ARN_RE, "an IAM role ARN"),
        "name_prefix": _str(
            values, "namePrefix", pattern=_NAME_RE, expected="a lower-case name", default="maestro"
        )
        or "maestro",
        "alert_email": _str(
            values,
            "alertEmail",
            pattern=re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$"),
            expected="an e-mail address",
        ),
        "backup_reports_role_arn": _str(
            values,
            "backupReportsRoleArn",
            pattern=_REPORTS_ROLE_RE,
            expected="the ARN of the account's existing AWSServiceRoleForBackupReports (or nothing)",
        ),
        "tags": dict(tags),
    }


def _check_region(key: str, region: str, known: Collection[str]) -> None:
    """pulumi-aws refuses a region it does not know (unless ``aws:skipRegionValidation``); say so now,
    with the closest one, rather than at ``pulumi up``."""
    if known and region not in known:
        close = difflib.get_close_matches(region, sorted(known), n=1)
        hint = f" (did you mean {close[0]}?)" if close else ""
        raise SettingsError(key, f"a region pulumi-aws knows{hint}", region)


def parse_settings(
    values: Mapping[str, Any], *, region: str | None, known_regions: Collection[str] = ()
) -> Settings:
    """Validate raw configuration values (strings or JSON as the engine passes them) into ``Settings``.
    ``known_regions``: the regions the provider accepts (empty: only the region's shape is checked)."""
    if not region or not _REGION_RE.match(region):
        raise SettingsError("aws:region", "an AWS region like eu-west-1", region)
    _check_region("aws:region", region, known_regions)
    environment = _choice(values, "environment", ("staging", "prod"), None)
    prod = environment == "prod"
    databases = _databases(values)
    retention = _retention(values, prod)
    evidence = _evidence(values, prod)
    network = _network(values, prod, region)
    if network["dr_region"]:
        _check_region("drRegion", network["dr_region"], known_regions)
    return Settings(
        environment="prod" if prod else "staging",
        region=region,
        databases=databases,
        **network,
        **retention,
        **evidence,
        **_configuration(values),
        **_ownership(values),
    )


SETTING_KEYS = (
    "environment",
    "databases",
    "vpcId",
    "subnetIds",
    "appSecurityGroupIds",
    "breakGlassRoleArn",
    "namePrefix",
    "backupRetentionDays",
    "dailyRetentionDays",
    "weeklyRetentionDays",
    "deletionProtection",
    "vaultLockMode",
    "vaultLockChangeableDays",
    "evidenceLockMode",
    "evidenceLockDays",
    "evidenceArchiveAfterDays",
    "parameterPaths",
    "secretsPrefix",
    "configBackupSchedule",
    "kmsValidationSchedule",
    "scheduleTimezone",
    "drillTarget",
    "drillSubnetIds",
    "drRegion",
    "alertEmail",
    "backupReportsRoleArn",
    "tags",
)


def load_settings(
    get: Callable[[str], Any] | None = None, aws_get: Callable[[str], Any] | None = None
) -> Settings:
    """Validate the stack configuration: ``get`` reads this project's keys and ``aws_get`` the ``aws:``
    ones (both through ``pulumi.Config`` when not given, as under the engine)."""
    import pulumi  # noqa: PLC0415 - keep parse_settings importable without the runtime

    get = get or pulumi.Config(NAMESPACE).get
    aws_get = aws_get or pulumi.Config("aws").get
    known: list[str] = []
    if str(aws_get("skipRegionValidation") or "").lower() != "true":
        import pulumi_aws  # noqa: PLC0415

        known = [r.value for r in pulumi_aws.Region]
    values = {key: get(key) for key in SETTING_KEYS}
    return parse_settings(values, region=aws_get("region"), known_regions=known)
