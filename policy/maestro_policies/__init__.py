"""The runbook's policies, one per module. ``RULES`` carries each policy with its runbook section and
control IDs; ``ALL_POLICIES`` is what the CrossGuard pack registers."""

from __future__ import annotations

from typing import Any

from maestro_policies import (
    backup_alerts_failed_jobs,
    backup_plan_retention,
    backup_plan_selects_every_database,
    backup_plan_window_clear_of_maintenance,
    backup_restore_testing_isolated,
    backup_vault_cmk_encryption,
    backup_vault_deletion_denied,
    backup_vault_lock,
    backup_vault_lock_retention,
    backup_vault_notification_events,
    cloudtrail_trail_multi_region_validation,
    iam_role_backup_service_permissions,
    iam_role_config_backup_no_secret_values,
    iam_role_s3_read_can_list,
    iam_service_linked_role_principal_exists,
    kms_key_rotation,
    kms_key_validation_coverage,
    lambda_function_failure_path,
    lambda_function_tracing_permissions,
    rds_instance_backup_retention,
    rds_instance_cmk_encryption,
    rds_instance_copy_tags_to_snapshot,
    rds_instance_deletion_protection,
    rds_instance_final_snapshot,
    s3_bucket_artifacts_lifecycle,
    s3_bucket_config_restricted,
    s3_bucket_evidence_object_lock,
    s3_bucket_public_access_block,
    s3_bucket_sse_kms,
    s3_bucket_tls_only,
    s3_bucket_versioning,
    scheduler_schedule_cmk_decrypt,
    scheduler_schedule_daily_config_backup,
    scheduler_schedule_kms_validation,
    sns_topic_cmk_publishers,
)
from maestro_policies._base import Rule

RULES: list[Rule] = [
    module.RULE
    for module in (
        rds_instance_backup_retention,
        rds_instance_cmk_encryption,
        rds_instance_deletion_protection,
        rds_instance_copy_tags_to_snapshot,
        rds_instance_final_snapshot,
        backup_plan_selects_every_database,
        backup_plan_retention,
        backup_vault_cmk_encryption,
        backup_vault_lock,
        backup_vault_lock_retention,
        iam_role_backup_service_permissions,
        kms_key_rotation,
        kms_key_validation_coverage,
        s3_bucket_versioning,
        s3_bucket_sse_kms,
        s3_bucket_public_access_block,
        s3_bucket_tls_only,
        s3_bucket_artifacts_lifecycle,
        s3_bucket_evidence_object_lock,
        s3_bucket_config_restricted,
        iam_role_config_backup_no_secret_values,
        scheduler_schedule_daily_config_backup,
        scheduler_schedule_kms_validation,
        cloudtrail_trail_multi_region_validation,
        backup_alerts_failed_jobs,
        # Wiring: what one resource needs from another, which mocks and moto cannot see (issue 10).
        lambda_function_tracing_permissions,
        scheduler_schedule_cmk_decrypt,
        sns_topic_cmk_publishers,
        iam_service_linked_role_principal_exists,
        lambda_function_failure_path,
        iam_role_s3_read_can_list,
        backup_plan_window_clear_of_maintenance,
        backup_vault_deletion_denied,
        backup_vault_notification_events,
        backup_restore_testing_isolated,
    )
]
ALL_POLICIES = [rule.policy for rule in RULES]


def initial_config() -> dict[str, Any]:
    """Every tunable threshold at its runbook default (override with policyPackConfigs)."""
    config: dict[str, Any] = {}
    for rule in RULES:
        schema = rule.policy.config_schema
        if schema is not None:
            config[rule.name] = {k: v["default"] for k, v in schema.properties.items()}
    return config
