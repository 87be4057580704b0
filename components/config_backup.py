"""Scheduled operations: the daily config backup (runbook 1.3) and the monthly KMS check (runbook 3).

``ScheduledFunction`` is a Lambda running backupctl's own code on an EventBridge Scheduler schedule,
with a role that holds only the statements its job needs, an encrypted log group kept a year, and a
scheduler role that may invoke only that function. Every failure makes a sound: a schedule that cannot
invoke lands in a dead-letter queue with an alarm on it, a function that fails raises its Errors alarm;
both alarms notify the alerts topic. The config backup role can list and describe secrets but is
explicitly denied their values, and denied decrypting anything through SSM.
"""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
import pulumi_aws as aws

from components.iam import assume_role_policy, policy_document

LAMBDA_RUNTIME = "python3.12"
LOG_RETENTION_DAYS = 365  # runbook 4: operations stay auditable for a year
SECRET_VALUE_ACTIONS = ["secretsmanager:GetSecretValue", "secretsmanager:BatchGetSecretValue"]
DLQ_RETENTION_SECONDS = 14 * 24 * 3600  # the SQS maximum: a failed invocation waits two weeks for a human
ALARM_PERIOD_SECONDS = 300
# Active tracing uploads segments as the function's role: without these CreateFunction fails
# (InvalidParameterValueException). X-Ray has no resource-level permissions, hence "*".
# https://docs.aws.amazon.com/lambda/latest/dg/services-xray.html (AWSXRayDaemonWriteAccess)
XRAY_ACTIONS = ["xray:PutTraceSegments", "xray:PutTelemetryRecords"]


def backupctl_source() -> Path:
    spec = importlib.util.find_spec("backupctl")
    if spec is None or spec.origin is None:
        raise RuntimeError("backupctl is not importable; run `pip install -e .` first")
    return Path(spec.origin).parent


def function_code() -> pulumi.AssetArchive:
    """The handlers and exactly the modules they import (``backupctl.LAMBDA_PACKAGE``), file by file:
    no ``__pycache__`` or stray files, so the archive is the same on every machine."""
    import backupctl  # noqa: PLC0415 - only its package list; no boto3, no Pulumi

    root = backupctl_source().parent
    return pulumi.AssetArchive(
        {path: pulumi.FileAsset(str(root / path)) for path in backupctl.LAMBDA_PACKAGE}
    )


def role_name(name_prefix: str, environment: str, job: str) -> str:
    """Role names are fixed so bucket policies can name them before the roles exist."""
    return f"{name_prefix}-{environment}-{job}"


@dataclass(frozen=True)
class ScheduledFunctionArgs:
    environment: str
    name_prefix: str
    job: str  # config-backup | kms-validate
    handler: str
    description: str
    schedule_expression: str
    schedule_timezone: str
    statements: Sequence[Mapping[str, Any]]
    environment_variables: Mapping[str, pulumi.Input[str]]
    kms_key_arn: pulumi.Input[str]  # encrypts the function's environment and the schedule's payload
    logs_kms_key_arn: pulumi.Input[str]
    alerts_topic_arn: pulumi.Input[str]  # where the Errors and dead-letter alarms go
    timeout_seconds: int = 300
    tags: Mapping[str, str] = field(default_factory=dict)


class ScheduledFunction(pulumi.ComponentResource):
    function_name: pulumi.Output[str]
    schedule_name: pulumi.Output[str]
    dead_letter_queue_url: pulumi.Output[str]
    role_arn: pulumi.Output[str]

    def __init__(
        self, name: str, args: ScheduledFunctionArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("maestro:config_backup:ScheduledFunction", name, None, opts)
        self.name, self.args = name, args
        self.child = pulumi.ResourceOptions(parent=self)
        self.physical_name = role_name(args.name_prefix, args.environment, args.job)
        function = self.function()
        schedule, dead_letters = self.schedule(function)
        self.alarms(function, dead_letters)
        self.function_name, self.schedule_name = function.name, schedule.name
        self.dead_letter_queue_url = dead_letters.url
        self.register_outputs(
            {
                "function_name": self.function_name,
                "schedule_name": self.schedule_name,
                "dead_letter_queue_url": self.dead_letter_queue_url,
            }
        )

    def function(self) -> aws.lambda_.Function:
        """The Lambda, its encrypted log group kept a year, and a role holding only the job's statements."""
        name, args = self.name, self.args
        log_group = aws.cloudwatch.LogGroup(
            f"{name}-logs",
            name=f"/aws/lambda/{self.physical_name}",
            retention_in_days=LOG_RETENTION_DAYS,
            kms_key_id=args.logs_kms_key_arn,
            tags=dict(args.tags),
            opts=self.child,
        )
        role = aws.iam.Role(
            f"{name}-role",
            name=self.physical_name,
            assume_role_policy=assume_role_policy("lambda.amazonaws.com"),
            description=args.description,
            tags=dict(args.tags),
            opts=self.child,
        )
        self.role_arn = role.arn
        role_policy = aws.iam.RolePolicy(
            f"{name}-role-policy",
            role=role.id,
            policy=policy_document(
                [
                    *args.statements,
                    {
                        "Sid": "WriteOwnLogs",
                        "Effect": "Allow",
                        "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
                        "Resource": pulumi.Output.concat(log_group.arn, ":*"),
                    },
                    {"Sid": "UploadTraces", "Effect": "Allow", "Action": XRAY_ACTIONS, "Resource": "*"},
                ]
            ),
            opts=self.child,
        )
        return aws.lambda_.Function(
            f"{name}-function",
            name=self.physical_name,
            description=args.description,
            runtime=LAMBDA_RUNTIME,
            handler=args.handler,
            role=role.arn,
            code=function_code(),
            timeout=args.timeout_seconds,
            memory_size=256,
            kms_key_arn=args.kms_key_arn,
            environment={"variables": dict(args.environment_variables)},
            tracing_config={"mode": "Active"},
            logging_config={"log_format": "JSON", "log_group": log_group.name},
            tags=dict(args.tags),
            # The role policy is otherwise created in parallel with the function: CreateFunction with Active
            # tracing checks the X-Ray permissions at once, so the policy must exist first.
            opts=pulumi.ResourceOptions(parent=self, depends_on=[log_group, role_policy]),
        )

    def schedule(self, function: aws.lambda_.Function) -> tuple[aws.scheduler.Schedule, aws.sqs.Queue]:
        """The schedule, its dead-letter queue, and a role that may invoke only this function.

        Scheduler invokes Lambda asynchronously, so its retries and dead-letter queue cover failures to
        invoke (access denied, the payload key not decryptable, throttling), not the function's own errors:
        https://docs.aws.amazon.com/lambda/latest/dg/with-eventbridge-scheduler.html
        """
        name, args = self.name, self.args
        # SSE-SQS: encrypted at rest without a key policy to keep in step; the payload is not secret.
        dead_letters = aws.sqs.Queue(
            f"{name}-dlq",
            name=f"{self.physical_name}-dlq",
            sqs_managed_sse_enabled=True,
            message_retention_seconds=DLQ_RETENTION_SECONDS,
            tags=dict(args.tags),
            opts=self.child,
        )
        scheduler_role = aws.iam.Role(
            f"{name}-scheduler-role",
            name=f"{self.physical_name}-scheduler",
            assume_role_policy=assume_role_policy("scheduler.amazonaws.com"),
            tags=dict(args.tags),
            opts=self.child,
        )
        scheduler_policy = aws.iam.RolePolicy(
            f"{name}-scheduler-policy",
            role=scheduler_role.id,
            policy=policy_document(scheduler_statements(function.arn, args.kms_key_arn, dead_letters.arn)),
            opts=self.child,
        )
        schedule = aws.scheduler.Schedule(
            f"{name}-schedule",
            name=self.physical_name,
            description=args.description,
            schedule_expression=args.schedule_expression,
            schedule_expression_timezone=args.schedule_timezone,
            flexible_time_window={"mode": "OFF"},
            state="ENABLED",
            kms_key_arn=args.kms_key_arn,
            target={
                "arn": function.arn,
                "role_arn": scheduler_role.arn,
                "input": json.dumps({"source": "schedule", "job": args.job}),
                "retry_policy": {"maximum_retry_attempts": 3, "maximum_event_age_in_seconds": 3600},
                "dead_letter_config": {"arn": dead_letters.arn},
            },
            opts=pulumi.ResourceOptions(parent=self, depends_on=[scheduler_policy]),
        )
        return schedule, dead_letters

    def alarms(self, function: aws.lambda_.Function, dead_letters: aws.sqs.Queue) -> None:
        """The function's errors (after Lambda's own two async retries) and a non-empty dead-letter queue
        each notify the alerts topic; CloudWatch publishes there as cloudwatch.amazonaws.com, which the
        topic policy and the logs key admit (components/audit.py, components/keys.py)."""
        name, args = self.name, self.args
        common: dict[str, Any] = {
            "statistic": "Sum",
            "period": ALARM_PERIOD_SECONDS,
            "evaluation_periods": 1,
            "threshold": 0,
            "comparison_operator": "GreaterThanThreshold",
            "treat_missing_data": "notBreaching",
            "alarm_actions": [args.alerts_topic_arn],
            "tags": dict(args.tags),
        }
        aws.cloudwatch.MetricAlarm(
            f"{name}-errors",
            name=f"{self.physical_name}-errors",
            alarm_description=f"{self.physical_name} failed ({args.description})",
            namespace="AWS/Lambda",
            metric_name="Errors",
            dimensions={"FunctionName": function.name},
            opts=self.child,
            **common,
        )
        aws.cloudwatch.MetricAlarm(
            f"{name}-dlq-depth",
            name=f"{self.physical_name}-not-invoked",
            alarm_description=f"the schedule could not invoke {self.physical_name}: see its DLQ",
            namespace="AWS/SQS",
            metric_name="ApproximateNumberOfMessagesVisible",
            dimensions={"QueueName": dead_letters.name},
            opts=self.child,
            **{**common, "statistic": "Maximum"},
        )


def scheduler_statements(
    function_arn: pulumi.Input[str], kms_key_arn: pulumi.Input[str], dead_letter_arn: pulumi.Input[str]
) -> list[Mapping[str, Any]]:
    """What the schedule's execution role does: invoke, decrypt the CMK-encrypted payload (Scheduler
    decrypts as this role: https://docs.aws.amazon.com/scheduler/latest/UserGuide/encryption-rest.html,
    "Managing KMS keys"), and drop undeliverable events in the dead-letter queue
    (https://docs.aws.amazon.com/scheduler/latest/UserGuide/configuring-schedule-dlq.html)."""
    return [
        {
            "Sid": "InvokeOnlyThisFunction",
            "Effect": "Allow",
            "Action": "lambda:InvokeFunction",
            "Resource": function_arn,
        },
        {
            "Sid": "DecryptSchedulePayload",
            "Effect": "Allow",
            "Action": "kms:Decrypt",
            "Resource": kms_key_arn,
        },
        {
            "Sid": "DeadLetterUndeliveredEvents",
            "Effect": "Allow",
            "Action": "sqs:SendMessage",
            "Resource": dead_letter_arn,
        },
    ]


def config_backup_statements(
    bucket_arn: pulumi.Input[str],
    config_key_arn: pulumi.Input[str],
    region: str,
    account_id: pulumi.Input[str],
    parameter_paths: Sequence[str],
    secrets_prefix: str,
) -> list[Mapping[str, Any]]:
    """Least privilege for the daily config backup: read parameters, describe secrets, write snapshots."""
    parameter_arns = [
        pulumi.Output.concat("arn:aws:ssm:", region, ":", account_id, ":parameter", path, suffix)
        for path in parameter_paths
        for suffix in ("", "/*")
    ]
    secret_arns = pulumi.Output.concat(
        "arn:aws:secretsmanager:", region, ":", account_id, ":secret:", secrets_prefix, "*"
    )
    return [
        {
            "Sid": "ReadPoliciesAndRoutingPins",
            "Effect": "Allow",
            "Action": ["ssm:GetParametersByPath", "ssm:GetParameters", "ssm:GetParameter"],
            "Resource": parameter_arns,
        },
        {
            "Sid": "ListSecretsMetadata",
            "Effect": "Allow",
            "Action": "secretsmanager:ListSecrets",
            "Resource": "*",
        },
        {
            "Sid": "DescribeSecretsMetadata",
            "Effect": "Allow",
            "Action": ["secretsmanager:DescribeSecret", "secretsmanager:ListSecretVersionIds"],
            "Resource": secret_arns,
        },
        {"Sid": "NeverReadSecretValues", "Effect": "Deny", "Action": SECRET_VALUE_ACTIONS, "Resource": "*"},
        # A SecureString under the parameter paths would otherwise be readable with WithDecryption=True
        # (under aws/ssm or any key the role may use); only the code's choice would stop it.
        # kms:ViaService is valid in IAM policies:
        # https://docs.aws.amazon.com/kms/latest/developerguide/conditions-kms.html#conditions-kms-via-service
        {
            "Sid": "NeverDecryptThroughSsm",
            "Effect": "Deny",
            "Action": "kms:Decrypt",
            "Resource": "*",
            "Condition": {"StringEquals": {"kms:ViaService": f"ssm.{region}.amazonaws.com"}},
        },
        {
            "Sid": "WriteConfigSnapshots",
            "Effect": "Allow",
            "Action": ["s3:PutObject", "s3:GetObject"],
            "Resource": pulumi.Output.concat(bucket_arn, "/config/*"),
        },
        {"Sid": "ListConfigSnapshots", "Effect": "Allow", "Action": "s3:ListBucket", "Resource": bucket_arn},
        {
            "Sid": "EncryptWithConfigKey",
            "Effect": "Allow",
            "Action": ["kms:GenerateDataKey", "kms:Encrypt", "kms:Decrypt"],
            "Resource": config_key_arn,
        },
    ]


def kms_validation_statements(
    key_arns: Sequence[pulumi.Input[str]],
    bucket_arn: pulumi.Input[str],
    config_key_arn: pulumi.Input[str],
    environment: str,
    alerts_topic_arn: pulumi.Input[str],
    alerts_key_arn: pulumi.Input[str],
) -> list[Mapping[str, Any]]:
    """Least privilege for the monthly KMS validation: the stack's keys (DR region's too), its canaries,
    its topic."""
    canaries = f"config/{environment}/kms-canary/"
    return [
        {
            "Sid": "ValidateOnlyTheStackKeys",
            "Effect": "Allow",
            "Action": [
                "kms:Encrypt",
                "kms:Decrypt",
                "kms:DescribeKey",
                "kms:GetKeyRotationStatus",
                "kms:ListKeyRotations",
            ],
            "Resource": list(key_arns),
        },
        {
            "Sid": "WriteCanariesWithConfigKey",
            "Effect": "Allow",
            "Action": ["kms:GenerateDataKey"],
            "Resource": config_key_arn,
        },
        {
            "Sid": "KeepCanaries",
            "Effect": "Allow",
            "Action": ["s3:GetObject", "s3:PutObject"],
            "Resource": pulumi.Output.concat(bucket_arn, f"/{canaries}*"),
        },
        # Without s3:ListBucket, GetObject of a canary not made yet answers 403 AccessDenied, not 404:
        # https://docs.aws.amazon.com/AmazonS3/latest/API/API_GetObject.html ("If you don't have the
        # s3:ListBucket permission, Amazon S3 returns an HTTP status code 403"). Listing stays limited to
        # the canary prefix.
        {
            "Sid": "ListOwnCanaries",
            "Effect": "Allow",
            "Action": "s3:ListBucket",
            "Resource": bucket_arn,
            "Condition": {"StringLike": {"s3:prefix": [f"{canaries}*"]}},
        },
        {"Sid": "AlertOnFailure", "Effect": "Allow", "Action": "sns:Publish", "Resource": alerts_topic_arn},
        # The alerts topic is SSE-KMS: a publisher needs GenerateDataKey and Decrypt on its key
        # (https://docs.aws.amazon.com/sns/latest/dg/sns-key-management.html#send-to-encrypted-topic).
        {
            "Sid": "PublishToEncryptedTopic",
            "Effect": "Allow",
            "Action": ["kms:GenerateDataKey*", "kms:Decrypt"],
            "Resource": alerts_key_arn,
        },
    ]
