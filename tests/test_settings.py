"""Settings validation, without the Pulumi runtime: every bad value is one line naming the key."""

from __future__ import annotations

import json
import re
from typing import Any

import pulumi_aws
import pytest

from components.settings import SettingsError, parse_settings

BASE: dict[str, Any] = {
    "environment": "staging",
    "databases": json.dumps([{"name": "orchestrator", "criticality": "critical"}]),
    "vpcId": "vpc-0a1b2c3d4e5f60718",
    "subnetIds": json.dumps(["subnet-0aa11bb22cc33dd44", "subnet-0ee55ff66aa77bb88"]),
    "breakGlassRoleArn": "arn:aws:iam::111122223333:role/break-glass",
}


def parse(region: str = "eu-west-1", **changes: Any) -> Any:
    values = {**BASE, **changes}
    return parse_settings({k: v for k, v in values.items() if v is not None}, region=region)


def error_of(**changes: Any) -> str:
    with pytest.raises(SettingsError) as info:
        parse(**changes)
    message = str(info.value)
    assert "\n" not in message
    return message


def test_baseline_has_the_runbook_defaults() -> None:
    s = parse()
    assert (s.backup_retention_days, s.daily_retention_days, s.weekly_retention_days) == (7, 7, 30)
    assert s.evidence_lock_days == 90 and s.evidence_archive_after_days == 90
    assert s.evidence_lock_mode == "GOVERNANCE" and s.vault_lock_mode == "governance"
    assert s.deletion_protection is True
    assert s.databases[0].rpo_minutes == 15 and s.databases[0].rto_minutes == 240


def test_prod_defaults_to_compliance_locks() -> None:
    s = parse(environment="prod")
    assert s.evidence_lock_mode == "COMPLIANCE" and s.vault_lock_mode == "compliance" and s.protect


def test_standard_database_targets_come_from_runbook_2_2() -> None:
    s = parse(databases=json.dumps([{"name": "reports", "criticality": "standard"}]))
    assert (s.databases[0].rpo_minutes, s.databases[0].rto_minutes) == (240, 1440)


def test_retention_below_seven_days_names_the_key() -> None:
    message = error_of(backupRetentionDays="3")
    assert message.startswith("maestro-backup:backupRetentionDays: expected an integer >= 7")
    assert "found '3'" in message


def test_retention_above_rds_maximum_is_refused() -> None:
    assert "<= 35" in error_of(backupRetentionDays="36")


def test_weekly_retention_below_thirty_days_is_refused() -> None:
    assert error_of(weeklyRetentionDays="14").startswith("maestro-backup:weeklyRetentionDays")


def test_evidence_lock_of_thirty_days_is_refused() -> None:
    message = error_of(evidenceLockDays="30")
    assert "evidenceLockDays" in message and ">= 90" in message


def test_archive_before_lock_end_is_refused() -> None:
    assert "evidenceArchiveAfterDays" in error_of(evidenceLockDays="120", evidenceArchiveAfterDays="100")


def test_unknown_criticality_names_the_database() -> None:
    message = error_of(databases=json.dumps([{"name": "x", "criticality": "gold"}]))
    assert message.startswith("maestro-backup:databases[0].criticality: expected critical|standard")
    assert "'gold'" in message


def test_malformed_database_list_is_refused() -> None:
    assert "databases: expected valid JSON" in error_of(databases="[{name: x")
    assert "databases: expected a non-empty list" in error_of(databases="{}")
    assert "databases[0]: expected an object" in error_of(databases='["orchestrator"]')


def test_unknown_database_key_is_refused() -> None:
    assert "databases[0].retention" in error_of(
        databases=json.dumps([{"name": "a", "criticality": "critical", "retention": 3}])
    )


def test_duplicate_database_names_are_refused() -> None:
    dbs = [{"name": "a", "criticality": "critical"}, {"name": "a", "criticality": "standard"}]
    assert "unique database names" in error_of(databases=json.dumps(dbs))


def test_missing_required_key_is_named() -> None:
    assert error_of(vpcId=None) == "maestro-backup:vpcId: expected a VPC id (vpc-...), found None"


def test_missing_region_is_named() -> None:
    with pytest.raises(SettingsError, match=r"^aws:region: expected an AWS region"):
        parse(region="")


def test_one_subnet_is_not_enough() -> None:
    assert "at least 2" in error_of(subnetIds=json.dumps(["subnet-0aa11bb22cc33dd44"]))


def test_prod_refuses_governance_evidence_lock() -> None:
    assert "evidenceLockMode: expected COMPLIANCE in prod" in error_of(
        environment="prod", evidenceLockMode="GOVERNANCE"
    )


def test_prod_refuses_disabled_deletion_protection() -> None:
    assert "deletionProtection: expected true in prod" in error_of(
        environment="prod", deletionProtection="false"
    )


def test_prod_refuses_an_unlocked_vault() -> None:
    assert "vaultLockMode: expected compliance in prod" in error_of(
        environment="prod", vaultLockMode="governance"
    )


def test_prod_cannot_be_a_drill_target() -> None:
    assert "drillTarget" in error_of(environment="prod", drillTarget="true")


def test_drill_target_needs_isolated_subnets() -> None:
    assert "drillSubnetIds: expected at least 2" in error_of(drillTarget="true")


def test_dr_region_must_differ_from_primary() -> None:
    assert "drRegion" in error_of(drRegion="eu-west-1")


def test_bad_boolean_and_schedule_are_named() -> None:
    assert "deletionProtection: expected true or false" in error_of(deletionProtection="yes")
    assert "configBackupSchedule" in error_of(configBackupSchedule="daily")


def test_unknown_environment_is_refused() -> None:
    assert "environment: expected one of staging|prod, found 'dev'" in error_of(environment="dev")


@pytest.mark.parametrize("environment", ["staging", "prod"])
def test_lock_modes_default_by_environment_when_pulumi_yaml_says_auto(environment: str) -> None:
    s = parse(environment=environment, vaultLockMode="auto", evidenceLockMode="auto")
    expected = ("compliance", "COMPLIANCE") if environment == "prod" else ("governance", "GOVERNANCE")
    assert (s.vault_lock_mode, s.evidence_lock_mode) == expected


def test_bad_lock_mode_names_auto_as_a_choice() -> None:
    assert "vaultLockMode: expected one of none|governance|compliance|auto, found 'strict'" in error_of(
        vaultLockMode="strict"
    )


def test_existing_backup_reports_role_must_be_its_arn() -> None:
    arn = (
        "arn:aws:iam::111122223333:role/aws-service-role/reports.backup.amazonaws.com/"
        "AWSServiceRoleForBackupReports"
    )
    assert parse(backupReportsRoleArn=arn).backup_reports_role_arn == arn
    assert "backupReportsRoleArn: expected the ARN of the account's existing" in error_of(
        backupReportsRoleArn="arn:aws:iam::111122223333:role/some-role"
    )


def test_every_pulumi_yaml_key_without_a_default_is_one_settings_requires() -> None:
    """The Pulumi CLI demands a value for every key without a default in every stack (issue 10 item 11):
    only the keys settings cannot default may lack one."""
    from pathlib import Path

    import yaml

    from components.settings import SETTING_KEYS

    project = yaml.safe_load((Path(__file__).parent.parent / "Pulumi.yaml").read_text())
    declared = project["config"]
    without_default = {k for k, spec in declared.items() if "default" not in spec}
    assert without_default == {"environment", "vpcId", "subnetIds", "breakGlassRoleArn"}
    for key in sorted(without_default):
        assert f"maestro-backup:{key}: expected" in error_of(**{key: None})
    assert set(declared) <= set(SETTING_KEYS)


KNOWN = [r.value for r in pulumi_aws.Region]


@pytest.mark.parametrize(
    ("region", "dr_region", "expected"),
    [
        (
            "eu-westt-1",
            None,
            "aws:region: expected a region pulumi-aws knows (did you mean eu-west-1?), found",
        ),
        (
            "eu-west-1",
            "eu-centrall-1",
            "drRegion: expected a region pulumi-aws knows (did you mean eu-central-1?)",
        ),
    ],
)
def test_a_region_the_provider_does_not_know_is_refused_with_the_closest(
    region: str, dr_region: str | None, expected: str
) -> None:
    values = {**BASE, "drRegion": dr_region} if dr_region else BASE
    with pytest.raises(SettingsError, match=re.escape(expected)):
        parse_settings(values, region=region, known_regions=KNOWN)
    # without the provider's list (aws:skipRegionValidation) only the shape is checked
    assert parse_settings(values, region=region).region == region
