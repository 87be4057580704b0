"""Live operations on a deployed account (runbook 1.1-1.3, 3, 4): boto3 wrappers, stack outputs, verify,
config backup and restore, KMS validation and the audit trail. The Lambda handlers import only
``aws``, ``configbackup`` and ``kmscheck`` from here, so this package imports nothing on its own."""
