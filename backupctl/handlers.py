"""AWS Lambda entry points. They read their settings from the environment the Pulumi program sets and
run the same code as the CLI (runbook 1.3 daily config backup)."""

from __future__ import annotations

import json
import os
from typing import Any

import boto3

from backupctl.configbackup import collect, write_snapshot


def config_backup(event: dict[str, Any], context: Any, session: Any = None) -> dict[str, Any]:
    del context
    session = session or boto3.Session()
    env = os.environ
    paths = [p for p in env["MAESTRO_PARAMETER_PATHS"].split(",") if p]
    snapshot = collect(
        session.client("ssm"),
        session.client("secretsmanager"),
        environment=env["MAESTRO_ENVIRONMENT"],
        paths=paths,
        secrets_prefix=env["MAESTRO_SECRETS_PREFIX"],
    )
    manifest = write_snapshot(
        session.client("s3"), env["MAESTRO_CONFIG_BUCKET"], env.get("MAESTRO_CONFIG_KMS_KEY"), snapshot
    )
    # One JSON line per run for the audit trail (runbook 4); Lambda ships stdout to the encrypted log group.
    print(
        json.dumps(
            {
                "event": "config-backup",
                "source": event.get("source", "manual"),
                "result": "ok",
                "key": manifest["key"],
                "sha256": manifest["sha256"],
                "parameters": manifest["parameters"],
                "secrets": manifest["secrets"],
                "problems": manifest["problems"],
            }
        )
    )
    return manifest
