"""rds-instance-cmk-encryption: storage encrypted with a customer-managed key (runbook 1.1)."""

from __future__ import annotations

from maestro_policies._base import AWS_MANAGED_KEY, RDS_INSTANCE, get, label, resource_rule


def validate(args, report_violation) -> None:  # type: ignore[no-untyped-def]
    if args.resource_type != RDS_INSTANCE:
        return
    key = get(args.props, "kmsKeyId", default="")
    if get(args.props, "storageEncrypted", default=False) is not True:
        report_violation(
            f"{label(args)} storage is not encrypted; runbook 1.1 requires a KMS CMK "
            "(set storage_encrypted and kms_key_id)",
            None,
        )
    elif not isinstance(key, str) or not key or AWS_MANAGED_KEY.search(key):
        report_violation(
            f"{label(args)} uses the AWS-managed key; runbook 1.1 requires a customer-managed key "
            "(set kms_key_id to a CMK ARN)",
            None,
        )


RULE = resource_rule(
    "rds-instance-cmk-encryption",
    "RDS storage encrypted with a customer-managed KMS key",
    "1.1",
    ("RDS.3", "CKV_AWS_16"),
    (RDS_INSTANCE,),
    validate,
)
