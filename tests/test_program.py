"""The program, run under mocks from both real stack files, declares every runbook rule.

One property per test; failure messages carry the URN of the resource at fault.
"""

from __future__ import annotations

import json

from tests.conftest import Deployment

RDS = "aws:rds/instance:Instance"
KEY = "aws:kms/key:Key"
BUCKET = "aws:s3/bucket:Bucket"
PLAN = "aws:backup/plan:Plan"
VAULT = "aws:backup/vault:Vault"
LIFECYCLE = "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration"


def _rule(plan: dict, name: str) -> dict:
    return next(r for r in plan["inputs"]["rules"] if r["ruleName"] == name)


# --- runbook 1.1: PostgreSQL ---------------------------------------------------------------------------


def test_every_database_keeps_automated_backups_at_least_seven_days(stack: Deployment) -> None:
    for db in stack.of_type(RDS):
        assert db["inputs"]["backupRetentionPeriod"] >= 7, db["urn"]


def test_prod_keeps_its_configured_fourteen_days(prod: Deployment) -> None:
    assert {db["inputs"]["backupRetentionPeriod"] for db in prod.of_type(RDS)} == {14}


def test_databases_are_encrypted_with_the_rds_customer_key(stack: Deployment) -> None:
    rds_key = stack.key("rds")
    for db in stack.of_type(RDS):
        assert db["inputs"]["storageEncrypted"] is True, db["urn"]
        assert db["inputs"]["kmsKeyId"] == rds_key["outputs"]["arn"], db["urn"]
        assert db["inputs"]["performanceInsightsKmsKeyId"] == rds_key["outputs"]["arn"], db["urn"]


def test_master_password_is_managed_by_secrets_manager_not_config(stack: Deployment) -> None:
    for db in stack.of_type(RDS):
        assert db["inputs"]["manageMasterUserPassword"] is True, db["urn"]
        assert "password" not in db["inputs"], db["urn"]
        assert db["inputs"]["masterUserSecretKmsKeyId"].startswith("arn:aws:kms:"), db["urn"]


def test_snapshots_carry_tags_and_a_final_snapshot_is_kept(stack: Deployment) -> None:
    for db in stack.of_type(RDS):
        i = db["inputs"]
        assert i["copyTagsToSnapshot"] is True, db["urn"]
        assert i["skipFinalSnapshot"] is False and i["finalSnapshotIdentifier"].endswith("-final"), db["urn"]
        assert i["deleteAutomatedBackups"] is False, db["urn"]


def test_databases_have_deletion_protection(stack: Deployment) -> None:
    for db in stack.of_type(RDS):
        assert db["inputs"]["deletionProtection"] is True, db["urn"]


def test_databases_are_private_and_export_logs(stack: Deployment) -> None:
    for db in stack.of_type(RDS):
        assert db["inputs"]["publiclyAccessible"] is False, db["urn"]
        assert "postgresql" in db["inputs"]["enabledCloudwatchLogsExports"], db["urn"]


def test_databases_carry_their_runbook_targets_as_tags(stack: Deployment) -> None:
    for db in stack.of_type(RDS):
        tags = db["inputs"]["tags"]
        assert tags["maestro:backup"] == "true", db["urn"]
        expected = {"critical": ("15", "240"), "standard": ("240", "1440")}[tags["maestro:criticality"]]
        assert (tags["maestro:rpo-minutes"], tags["maestro:rto-minutes"]) == expected, db["urn"]


def test_prod_databases_are_protected_and_retained_on_delete(prod: Deployment) -> None:
    for db in prod.of_type(RDS):
        assert db["protect"] and db["retainOnDelete"], db["urn"]


def test_staging_databases_are_drill_targets_and_prod_ones_are_not(
    staging: Deployment, prod: Deployment
) -> None:
    assert {d["inputs"]["tags"]["maestro:drill-target"] for d in staging.of_type(RDS)} == {"true"}
    assert {d["inputs"]["tags"]["maestro:drill-target"] for d in prod.of_type(RDS)} == {"false"}


def test_prod_replicates_automated_backups_to_the_dr_region(prod: Deployment) -> None:
    replicas = prod.of_type("aws:rds/instanceAutomatedBackupsReplication:InstanceAutomatedBackupsReplication")
    assert len(replicas) == len(prod.of_type(RDS))
    for r in replicas:
        assert r["inputs"]["region"] == "eu-central-1", r["urn"]
        assert r["inputs"]["kmsKeyId"].startswith("arn:aws:kms:eu-central-1:"), r["urn"]


# --- runbook 1.1: AWS Backup ----------------------------------------------------------------------------


def test_daily_rule_keeps_seven_days_and_weekly_thirty(stack: Deployment) -> None:
    plan = stack.one(PLAN, "backup-plan")
    assert _rule(plan, "daily")["lifecycle"]["deleteAfter"] >= 7, plan["urn"]
    assert _rule(plan, "weekly")["lifecycle"]["deleteAfter"] >= 30, plan["urn"]
    assert "SUN" in _rule(plan, "weekly")["schedule"], plan["urn"]


def test_critical_databases_get_continuous_backup(stack: Deployment) -> None:
    plan = stack.one(PLAN, "pitr-plan")
    assert _rule(plan, "continuous")["enableContinuousBackup"] is True, plan["urn"]


def test_every_database_is_selected_by_a_backup_plan_tag(stack: Deployment) -> None:
    selection = stack.one("aws:backup/selection:Selection", "backup-selection")
    tags = {(t["key"], t["value"]) for t in selection["inputs"]["selectionTags"]}
    for db in stack.of_type(RDS):
        assert any(db["inputs"]["tags"].get(k) == v for k, v in tags), db["urn"]


def test_vault_is_encrypted_with_the_backup_customer_key(stack: Deployment) -> None:
    vault = stack.one(VAULT, "backup-vault")
    assert vault["inputs"]["kmsKeyArn"] == stack.key("backup")["outputs"]["arn"], vault["urn"]


def test_prod_vault_lock_is_compliance_mode_and_staging_governance(
    staging: Deployment, prod: Deployment
) -> None:
    lock = prod.one("aws:backup/vaultLockConfiguration:VaultLockConfiguration", "backup-vault-lock")
    assert lock["inputs"]["changeableForDays"] >= 3 and lock["inputs"]["minRetentionDays"] >= 7, lock["urn"]
    staging_lock = staging.one("aws:backup/vaultLockConfiguration:VaultLockConfiguration")
    assert "changeableForDays" not in staging_lock["inputs"], staging_lock["urn"]


def test_vault_notifies_failed_jobs(stack: Deployment) -> None:
    n = stack.one("aws:backup/vaultNotifications:VaultNotifications")
    assert "BACKUP_JOB_FAILED" in n["inputs"]["backupVaultEvents"], n["urn"]
    assert n["inputs"]["snsTopicArn"] == stack.outputs["alertsTopicArn"], n["urn"]


def test_quarterly_restore_testing_plan_exists(stack: Deployment) -> None:
    plan = stack.one("aws:backup/restoreTestingPlan:RestoreTestingPlan")
    assert plan["inputs"]["scheduleExpression"].startswith("cron(0 6 1 1,4,7,10"), plan["urn"]
    selection = stack.one("aws:backup/restoreTestingSelection:RestoreTestingSelection")
    assert selection["inputs"]["protectedResourceType"] == "RDS", selection["urn"]


def test_prod_copies_recovery_points_to_the_dr_vault(prod: Deployment) -> None:
    dr_vault = prod.one(VAULT, "dr-vault")
    assert dr_vault["inputs"]["region"] == "eu-central-1"
    dr_lock = prod.one("aws:backup/vaultLockConfiguration:VaultLockConfiguration", "dr-vault-lock")
    assert dr_lock["inputs"]["region"] == "eu-central-1" and dr_lock["inputs"]["changeableForDays"] >= 3
    plan = prod.one(PLAN, "backup-plan")
    for rule in ("daily", "weekly"):
        assert _rule(plan, rule)["copyActions"][0]["destinationVaultArn"] == dr_vault["outputs"]["arn"]


# --- runbook 3: KMS -------------------------------------------------------------------------------------


def test_every_key_rotates_yearly_with_a_thirty_day_deletion_window(stack: Deployment) -> None:
    for key in stack.of_type(KEY):
        assert key["inputs"]["enableKeyRotation"] is True, key["urn"]
        assert key["inputs"]["rotationPeriodInDays"] <= 365, key["urn"]
        assert key["inputs"]["deletionWindowInDays"] == 30, key["urn"]


def test_key_policies_keep_the_account_as_administrator(stack: Deployment) -> None:
    for key in stack.of_type(KEY):
        policy = json.loads(key["inputs"]["policy"])
        admin = next(s for s in policy["Statement"] if s["Sid"] == "AccountAdministersKey")
        assert admin["Principal"]["AWS"].endswith(":root"), key["urn"]


def test_one_key_per_purpose(stack: Deployment) -> None:
    primary = [k for k in stack.of_type(KEY) if "dr-keys" not in k["urn"]]
    assert sorted(k["inputs"]["tags"]["maestro:key-purpose"] for k in primary) == sorted(
        ["rds", "backup", "storage", "config", "logs"]
    )


# --- runbook 1.2 / 1.3: buckets -------------------------------------------------------------------------


def test_every_bucket_is_versioned_encrypted_private_and_tls_only(stack: Deployment) -> None:
    for bucket in stack.of_type(BUCKET):
        urn = bucket["urn"]
        versioning = stack.settings_of_bucket(bucket, "aws:s3/bucketVersioning:BucketVersioning")
        assert versioning and versioning[0]["inputs"]["versioningConfiguration"]["status"] == "Enabled", urn
        sse = stack.settings_of_bucket(
            bucket, "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"
        )
        algorithm = sse[0]["inputs"]["rules"][0]["applyServerSideEncryptionByDefault"]["sseAlgorithm"]
        purpose = bucket["inputs"]["tags"]["maestro:purpose"]
        assert algorithm == ("AES256" if purpose == "access-logs" else "aws:kms"), urn
        pab = stack.settings_of_bucket(bucket, "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock")[0]
        assert all(
            pab["inputs"][k]
            for k in ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")
        ), urn
        policy = json.loads(
            stack.settings_of_bucket(bucket, "aws:s3/bucketPolicy:BucketPolicy")[0]["inputs"]["policy"]
        )
        assert any(
            s["Effect"] == "Deny" and s["Condition"].get("Bool", {}).get("aws:SecureTransport") == "false"
            for s in policy["Statement"]
        ), urn


def test_artifacts_lifecycle_is_exactly_30_90_180(stack: Deployment) -> None:
    bucket = stack.one(BUCKET, "artifacts")
    rule = stack.settings_of_bucket(bucket, LIFECYCLE)[0]["inputs"]["rules"][0]
    assert rule["filter"]["prefix"] == "artifacts/"
    assert [(t["days"], t["storageClass"]) for t in rule["transitions"]] == [
        (30, "STANDARD_IA"),
        (90, "GLACIER"),
    ]
    assert rule["expiration"]["days"] == 180
    assert rule["noncurrentVersionExpiration"]["noncurrentDays"] > 0
    assert rule["abortIncompleteMultipartUpload"]["daysAfterInitiation"] > 0


def test_artifacts_index_is_an_s3_inventory(stack: Deployment) -> None:
    inventory = stack.one("aws:s3/inventory:Inventory")
    assert inventory["inputs"]["bucket"] == stack.outputs["artifactsBucket"], inventory["urn"]
    assert inventory["inputs"]["schedule"]["frequency"] == "Daily", inventory["urn"]


def test_evidence_bucket_has_object_lock_for_at_least_90_days(stack: Deployment) -> None:
    bucket = stack.one(BUCKET, "evidence")
    assert bucket["inputs"]["objectLockEnabled"] is True, bucket["urn"]
    lock = stack.settings_of_bucket(
        bucket, "aws:s3/bucketObjectLockConfiguration:BucketObjectLockConfiguration"
    )[0]
    assert lock["inputs"]["rule"]["defaultRetention"]["days"] >= 90, lock["urn"]


def test_evidence_lock_mode_is_compliance_in_prod_governance_in_staging(
    staging: Deployment, prod: Deployment
) -> None:
    def mode(d: Deployment) -> str:
        return d.one("aws:s3/bucketObjectLockConfiguration:BucketObjectLockConfiguration")["inputs"]["rule"][
            "defaultRetention"
        ]["mode"]

    assert (mode(staging), mode(prod)) == ("GOVERNANCE", "COMPLIANCE")


def test_evidence_moves_to_deep_archive_not_before_the_lock_ends(stack: Deployment) -> None:
    bucket = stack.one(BUCKET, "evidence")
    days = stack.one("aws:s3/bucketObjectLockConfiguration:BucketObjectLockConfiguration")["inputs"]["rule"][
        "defaultRetention"
    ]["days"]
    rule = stack.settings_of_bucket(bucket, LIFECYCLE)[0]["inputs"]["rules"][0]
    assert rule["filter"]["prefix"] == "evidence/"
    assert rule["transitions"] == [{"days": rule["transitions"][0]["days"], "storageClass": "DEEP_ARCHIVE"}]
    assert rule["transitions"][0]["days"] >= days


def test_config_bucket_is_restricted_to_backup_and_break_glass_roles(stack: Deployment) -> None:
    bucket = stack.one(BUCKET, "config")
    policy = json.loads(
        stack.settings_of_bucket(bucket, "aws:s3/bucketPolicy:BucketPolicy")[0]["inputs"]["policy"]
    )
    deny = next(s for s in policy["Statement"] if s["Sid"] == "DenyEveryoneButBackupAndBreakGlass")
    allowed = deny["Condition"]["ArnNotLike"]["aws:PrincipalArn"]
    assert any(a.endswith(":role/maestro-break-glass") for a in allowed), bucket["urn"]
    assert any(a.endswith("-config-backup") for a in allowed), bucket["urn"]


def test_prod_buckets_are_protected(prod: Deployment) -> None:
    for bucket in prod.of_type(BUCKET):
        assert bucket["protect"] and bucket["retainOnDelete"], bucket["urn"]


# --- runbook 1.3: schedules -----------------------------------------------------------------------------


def test_daily_config_backup_schedule_targets_the_function(stack: Deployment) -> None:
    schedule = stack.one("aws:scheduler/schedule:Schedule", "config-backup")
    i = schedule["inputs"]
    assert i["scheduleExpression"].startswith("cron(") and i["state"] == "ENABLED", schedule["urn"]
    assert i["scheduleExpressionTimezone"] == "UTC", schedule["urn"]
    function = stack.one("aws:lambda/function:Function", "config-backup")
    assert i["target"]["arn"] == function["outputs"]["arn"], schedule["urn"]
    assert function["inputs"]["handler"] == "backupctl.handlers.config_backup", function["urn"]


def test_config_backup_role_can_never_read_secret_values(stack: Deployment) -> None:
    policy_resource = stack.one("aws:iam/rolePolicy:RolePolicy", "config-backup-role-policy")
    statements = json.loads(policy_resource["inputs"]["policy"])["Statement"]
    allowed = [
        a
        for s in statements
        if s["Effect"] == "Allow"
        for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])
    ]
    assert not any(a in ("secretsmanager:GetSecretValue", "secretsmanager:*", "*") for a in allowed)
    deny = next(s for s in statements if s["Effect"] == "Deny")
    assert "secretsmanager:GetSecretValue" in deny["Action"], policy_resource["urn"]


def test_monthly_kms_validation_schedule_targets_its_function(stack: Deployment) -> None:
    schedule = stack.one("aws:scheduler/schedule:Schedule", "kms-validate")
    assert schedule["inputs"]["scheduleExpression"] == "cron(0 6 1 * ? *)", schedule["urn"]
    assert schedule["inputs"]["state"] == "ENABLED", schedule["urn"]
    function = stack.one("aws:lambda/function:Function", "kms-validate")
    assert schedule["inputs"]["target"]["arn"] == function["outputs"]["arn"], schedule["urn"]
    assert function["inputs"]["handler"] == "backupctl.handlers.kms_validate", function["urn"]
    variables = function["inputs"]["environment"]["variables"]
    validated = json.loads(variables["MAESTRO_KEY_ARNS"])
    every_key = {k["outputs"]["arn"] for k in stack.of_type("aws:kms/key:Key")}
    assert set(validated.values()) == every_key, "runbook 3 validates every key, the DR region's too"
    assert {k: v for k, v in validated.items() if not k.startswith("dr-")} == stack.outputs["keyArns"]
    assert variables["MAESTRO_ALERTS_TOPIC"] == stack.outputs["alertsTopicArn"], function["urn"]


def test_kms_validation_role_touches_only_the_stack_keys_canaries_and_topic(stack: Deployment) -> None:
    policy_resource = stack.one("aws:iam/rolePolicy:RolePolicy", "kms-validate-role-policy")
    statements = json.loads(policy_resource["inputs"]["policy"])["Statement"]
    keys = {k["outputs"]["arn"] for k in stack.of_type("aws:kms/key:Key")}  # DR region's included
    kms = next(s for s in statements if "kms:Decrypt" in s["Action"])
    assert set(kms["Action"]) == {
        "kms:Encrypt",
        "kms:Decrypt",
        "kms:DescribeKey",
        "kms:GetKeyRotationStatus",
        "kms:ListKeyRotations",
    }, policy_resource["urn"]
    assert set(kms["Resource"]) == keys, policy_resource["urn"]
    for statement in statements:
        resources = (
            statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
        )
        assert "*" not in resources, statement
    s3 = next(s for s in statements if "s3:PutObject" in s["Action"])
    assert s3["Resource"].endswith(f"/config/{stack.outputs['environment']}/kms-canary/*"), s3


# --- runbook 4: audit -----------------------------------------------------------------------------------


def test_cloudtrail_is_multi_region_validated_and_encrypted(stack: Deployment) -> None:
    trail = stack.one("aws:cloudtrail/trail:Trail")
    i = trail["inputs"]
    assert i["isMultiRegionTrail"] and i["enableLogFileValidation"], trail["urn"]
    assert i["kmsKeyId"] == stack.key("logs")["outputs"]["arn"], trail["urn"]
    data = i["eventSelectors"][0]["dataResources"][0]["values"]
    assert any(stack.outputs["evidenceBucket"] in v for v in data), trail["urn"]


def test_failed_backup_jobs_alert_an_encrypted_topic(stack: Deployment) -> None:
    rule = stack.one("aws:cloudwatch/eventRule:EventRule")
    pattern = json.loads(rule["inputs"]["eventPattern"])
    assert pattern["source"] == ["aws.backup"] and "FAILED" in pattern["detail"]["state"], rule["urn"]
    target = stack.one("aws:cloudwatch/eventTarget:EventTarget")
    topic = stack.one("aws:sns/topic:Topic")
    assert target["inputs"]["arn"] == topic["outputs"]["arn"] and topic["inputs"]["kmsMasterKeyId"], topic[
        "urn"
    ]


def test_backup_audit_manager_checks_the_runbook(stack: Deployment) -> None:
    framework = stack.one("aws:backup/framework:Framework")
    names = {c["name"] for c in framework["inputs"]["controls"]}
    assert {
        "BACKUP_PLAN_MIN_FREQUENCY_AND_MIN_RETENTION_CHECK",
        "BACKUP_RECOVERY_POINT_ENCRYPTED",
        "BACKUP_RESOURCES_PROTECTED_BY_BACKUP_PLAN",
        "BACKUP_LAST_RECOVERY_POINT_CREATED",
        "RESTORE_TIME_FOR_RESOURCES_MEET_TARGET",
    } <= names, framework["urn"]
    assert stack.of_type("aws:backup/reportPlan:ReportPlan")


# --- runbook 2: drill isolation -------------------------------------------------------------------------


def test_staging_has_an_isolated_drill_network_and_prod_has_none(
    staging: Deployment, prod: Deployment
) -> None:
    sg = staging.one("aws:ec2/securityGroup:SecurityGroup", "drill")
    assert sg["inputs"]["ingress"][0]["self"] is True and not sg["inputs"].get("egress"), sg["urn"]
    assert staging.outputs["drillSubnetGroup"] == "maestro-staging-drill"
    assert not [r for r in prod.resources if "drill" in r["urn"].rsplit("::", 1)[-1]]


# --- outputs the ops CLI needs --------------------------------------------------------------------------


def test_stack_outputs_name_what_the_ops_cli_needs(stack: Deployment) -> None:
    from backupctl.cli.config import CONFIG_OUTPUTS
    from backupctl.cli.kms import KMS_OUTPUTS
    from backupctl.live.verify import BUCKET_OUTPUTS, REQUIRED_OUTPUTS, SCHEDULE_OUTPUTS

    needed = {
        *REQUIRED_OUTPUTS,
        *CONFIG_OUTPUTS,
        *KMS_OUTPUTS,
        *BUCKET_OUTPUTS,
        *SCHEDULE_OUTPUTS,
        "environment",
        "region",
        "databases",
        "vaultName",
        "vaultArn",
        "backupPlanId",
        "keyArns",
        "artifactsBucket",
        "evidenceBucket",
        "configBucket",
        "alertsTopicArn",
        "configBackupSchedule",
        "parameterPaths",
        "secretsPrefix",
    }
    assert needed <= set(stack.outputs), needed - set(stack.outputs)
    assert set(stack.outputs["keyArns"]) == {"rds", "backup", "storage", "config", "logs"}
