"""AWS Lambda entry points. They read their settings from the environment the Pulumi program sets and
run the same code as the CLI (runbook 1.3 daily config backup, runbook 3 KMS validation)."""

from __future__ import annotations

import json
import os
from typing import Any

import boto3

from backupctl.live.aws import S3, Clients, Kms
from backupctl.live.configbackup import collect, write_snapshot
from backupctl.live.kmscheck import KeyValidation


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


def kms_validate(event: dict[str, Any], context: Any, session: Any = None) -> dict[str, Any]:
    """Monthly KMS post-rotation validation (runbook 3); failures go to the alerts topic."""
    del context
    clients = Clients(session or boto3.Session())
    env = os.environ
    findings = KeyValidation(
        Kms(clients),
        S3(clients),
        environment=env["MAESTRO_ENVIRONMENT"],
        bucket=env["MAESTRO_CONFIG_BUCKET"],
        config_key_arn=env.get("MAESTRO_CONFIG_KMS_KEY"),
    ).run(json.loads(env["MAESTRO_KEY_ARNS"]))
    failed = [f for f in findings if f.status == "FAIL"]
    if failed:
        clients.client("sns").publish(
            TopicArn=env["MAESTRO_ALERTS_TOPIC"],
            Subject=f"maestro-backup {env['MAESTRO_ENVIRONMENT']}: KMS validation failed"[:100],
            Message="\n".join(f"{f.check} {f.resource}: {f.message}" for f in failed),
        )
    result = {
        "event": "kms-validate",
        "source": event.get("source", "manual"),
        "result": "fail" if failed else "ok",
        "findings": [f.to_dict() for f in findings],
    }
    print(json.dumps(result))
    return result
