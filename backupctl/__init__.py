"""backupctl: offline preview and compliance check, live verification, config backup, KMS checks and
restore drills for the Maestro Backup and Restore Runbook.

Packages: ``cli`` (the command line, one module per command group), ``offline`` (preview under mocks,
stack configuration, the policy runner), ``live`` (boto3 wrappers, stack outputs, verify, config backup,
KMS validation, audit), ``drill`` (runbook 2.1's ten steps over local PostgreSQL or RDS); ``handlers``
holds the Lambda entry points.
"""

__version__ = "0.1.0"

# The files the scheduled Lambda functions ship (runbook 1.3, 3): the handlers and exactly what they
# import, standard library and boto3 only. The Pulumi program archives these and nothing else, so the
# archive's hash is the same on every machine; tests/test_handlers.py keeps the list exact.
LAMBDA_PACKAGE = (
    "backupctl/__init__.py",
    "backupctl/findings.py",
    "backupctl/handlers.py",
    "backupctl/live/__init__.py",
    "backupctl/live/aws.py",
    "backupctl/live/configbackup.py",
    "backupctl/live/kmscheck.py",
)
