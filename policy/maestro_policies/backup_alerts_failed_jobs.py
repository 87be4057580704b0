"""backup-alerts-failed-jobs: a failed backup job reaches people (runbook 4).

An alert path is followed the way AWS delivers it: an enabled EventBridge rule on failed AWS Backup jobs
publishes to an SNS topic of the stack, whose policy lets that publisher in, whose
KMS key (when encrypted) lets that publisher encrypt, and which has at least one subscriber. A path that
exists but is disabled, has no subscriber, or whose topic or key shuts its publisher out alerts no one.
Vault notifications do not count: their BACKUP_JOB_FAILED and RESTORE_JOB_FAILED events are deprecated and
no longer notify (https://docs.aws.amazon.com/aws-backup/latest/devguide/API_PutBackupVaultNotifications.html).
"""

from __future__ import annotations

import json
from typing import Any

from maestro_policies._base import (
    AWS_MANAGED_KEY,
    EVENT_RULE,
    EVENT_TARGET,
    as_list,
    get,
    label,
    of_type,
    refers,
    stack_rule,
)
from maestro_policies._iam import admits_service, key_for
from maestro_policies._wiring import TOPIC, TOPIC_POLICY

SUBSCRIPTION = "aws:sns/topicSubscription:TopicSubscription"
EVENTS = "events.amazonaws.com"


def _watches_failures(rule) -> bool:  # type: ignore[no-untyped-def]
    pattern = get(rule.props, "eventPattern", default="{}")
    try:
        pattern = json.loads(pattern) if isinstance(pattern, str) else pattern
    except json.JSONDecodeError:
        return False
    return "aws.backup" in as_list(get(pattern, "source")) and "FAILED" in as_list(
        get(pattern, "detail", "state")
    )


def _paths(resources) -> list[tuple[Any, str, str, Any]]:  # type: ignore[no-untyped-def]
    """(start, publisher, topic ARN, property owner) for each failure alert path in the stack."""
    paths = []
    for rule in (r for r in of_type(resources, EVENT_RULE) if _watches_failures(r)):
        targets = [t for t in of_type(resources, EVENT_TARGET) if refers(t, rule, "rule", "name")]
        paths += [(rule, EVENTS, str(get(t.props, "arn", default="")), t) for t in targets] or [
            (rule, EVENTS, "", rule)
        ]
    return paths


def _topic(resources, owner, arn: str):  # type: ignore[no-untyped-def]
    deps = {d.urn for d in owner.property_dependencies.get("arn", [])}
    return next(
        (t for t in of_type(resources, TOPIC) if t.urn in deps or (arn and arn == get(t.props, "arn"))), None
    )


def _topic_problems(resources, topic, publisher: str) -> list[str]:  # type: ignore[no-untyped-def]
    problems = []
    if not any(refers(s, topic, "topic", "arn") for s in of_type(resources, SUBSCRIPTION)):
        problems.append(f"topic `{topic.name}` has no subscriber")
    policies = [
        get(p.props, "policy") for p in of_type(resources, TOPIC_POLICY) if refers(p, topic, "arn", "arn")
    ]
    arn = str(get(topic.props, "arn", default="*"))
    if not any(admits_service(p, publisher, ["sns:Publish"], arn) for p in policies):
        problems.append(f"topic `{topic.name}` policy does not let {publisher} publish")
    key_id = get(topic.props, "kmsMasterKeyId")
    if key_id:
        key = key_for(resources, topic, "kmsMasterKeyId")
        if isinstance(key_id, str) and AWS_MANAGED_KEY.search(key_id):
            problems.append(f"topic `{topic.name}` uses the AWS-managed key, which {publisher} cannot use")
        elif key is None:
            problems.append(
                f"topic `{topic.name}` key {key_id!r} is not in the stack, so it cannot be checked"
            )
        elif not admits_service(get(key.props, "policy"), publisher, ["kms:GenerateDataKey", "kms:Decrypt"]):
            problems.append(
                f"topic `{topic.name}` key `{key.name}` policy does not let {publisher} "
                "kms:GenerateDataKey* and kms:Decrypt, so every publish fails"
            )
    return problems


def _problems(resources, start, publisher: str, arn: str, owner) -> list[str]:  # type: ignore[no-untyped-def]
    if start.resource_type == EVENT_RULE and (
        get(start.props, "state", default="ENABLED") != "ENABLED" or get(start.props, "isEnabled") is False
    ):
        return [f"{label(start)} is disabled"]
    if ":sns:" not in arn:
        return [f"{label(start)} has no SNS topic target"]
    topic = _topic(resources, owner, arn)
    if topic is None:
        return [
            f"{label(start)} publishes to {arn}, a topic the stack does not declare, so it cannot be checked"
        ]
    return _topic_problems(resources, topic, publisher)


def _subjects(resources):  # type: ignore[no-untyped-def]
    return list({start.urn: start for start, *_ in _paths(resources)}.values())


def validate(args, report_violation) -> None:  # type: ignore[no-untyped-def]
    resources = list(args.resources)
    paths = _paths(resources)
    if not paths:
        report_violation(
            "failed AWS Backup jobs alert no one; add an EventBridge rule on aws.backup FAILED states "
            "targeting an SNS topic (vault notifications of BACKUP_JOB_FAILED are deprecated and silent; "
            "runbook 4)",
            None,
        )
    for start, publisher, arn, owner in paths:
        for problem in _problems(resources, start, publisher, arn, owner):
            report_violation(f"failed-job alerts reach no one: {problem} (runbook 4)", start.urn)


RULE = stack_rule(
    "backup-alerts-failed-jobs",
    "failed backup jobs reach a subscribed SNS topic that admits its publishers",
    "4",
    (),
    (EVENT_RULE,),
    validate,
    subjects=_subjects,
)
