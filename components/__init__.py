"""Pulumi components that declare the Maestro Backup and Restore Runbook, one module per concern."""
