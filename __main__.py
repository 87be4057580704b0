"""Maestro Backup and Restore Runbook, declared.

Sections of the runbook, in order: 1.1 PostgreSQL backups (keys, databases, AWS Backup plan), 1.2 S3
artifacts and evidence, 1.3 configuration backups, 2 restore drill network and restore testing,
3 KMS key rotation, 4 audit and compliance. All of it is built by ``Platform`` from the settings.
"""

import pulumi

from components.platform import Platform
from components.settings import SettingsError, load_settings

try:
    settings = load_settings()
except SettingsError as exc:  # one line naming the key, not a traceback
    raise pulumi.RunError(str(exc)) from None
platform = Platform(f"maestro-{settings.environment}", settings)

for key, value in platform.outputs.items():
    pulumi.export(key, value)
