"""backup-vault-cmk-encryption: recovery points encrypted with a customer-managed key (runbook 1.1)."""

from __future__ import annotations

from maestro_policies._base import AWS_MANAGED_KEY, BACKUP_VAULT, get, label, resource_rule


def validate(args, report_violation) -> None:  # type: ignore[no-untyped-def]
    if args.resource_type != BACKUP_VAULT:
        return
    key = get(args.props, "kmsKeyArn", default="")
    if not isinstance(key, str) or not key or AWS_MANAGED_KEY.search(key):
        report_violation(
            f"{label(args)} is not encrypted with a customer-managed key (set kms_key_arn)", None
        )


RULE = resource_rule(
    "backup-vault-cmk-encryption",
    "AWS Backup vaults use a customer-managed KMS key",
    "1.1",
    ("Backup.1",),
    (BACKUP_VAULT,),
    validate,
)
