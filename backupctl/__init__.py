"""backupctl: offline preview and compliance check, live verification, config backup, KMS checks and
restore drills for the Maestro Backup and Restore Runbook."""

__version__ = "0.1.0"
