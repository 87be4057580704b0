"""sns-topic-cmk-publishers: every publisher of a CMK-encrypted alerts topic may use its key, and the
topic policy admits the AWS services among them (runbook 4: failures reach people).

A publisher to an SSE-KMS topic needs kms:GenerateDataKey* and kms:Decrypt on its key; AWS services
(EventBridge rules, AWS Backup vault notifications, CloudWatch alarms) get them from the key policy,
roles from IAM (https://docs.aws.amazon.com/sns/latest/dg/sns-key-management.html). EventBridge's KMS
requests carry no aws:SourceAccount/SourceArn, so a statement conditioned on them admits nothing.
"""

from __future__ import annotations

from maestro_policies._base import (
    EVENT_TARGET,
    KMS_KEY,
    ROLE,
    VAULT_NOTIFICATIONS,
    as_list,
    get,
    of_type,
    stack_rule,
)
from maestro_policies._iam import role_statements
from maestro_policies._wiring import (
    METRIC_ALARM,
    TOPIC,
    TOPIC_POLICY,
    allows,
    by_arn,
    known_document,
    service_grants,
)

KMS_ACTIONS = ("kms:GenerateDataKey", "kms:Decrypt")
SOURCE_KEYS = ("aws:sourceaccount", "aws:sourcearn")
NO_SOURCE_CONDITION = ("events.amazonaws.com",)


def publishers(resources, topic_arn: str) -> set[str]:  # type: ignore[no-untyped-def]
    """The AWS services that publish to the topic, from the stack's own wiring."""
    found = set()
    if any(get(t.props, "arn") == topic_arn for t in of_type(resources, EVENT_TARGET)):
        found.add("events.amazonaws.com")
    if any(get(n.props, "snsTopicArn") == topic_arn for n in of_type(resources, VAULT_NOTIFICATIONS)):
        found.add("backup.amazonaws.com")
    for alarm in of_type(resources, METRIC_ALARM):
        actions = [*as_list(get(alarm.props, "alarmActions")), *as_list(get(alarm.props, "okActions"))]
        if topic_arn in actions:
            found.add("cloudwatch.amazonaws.com")
    return found


def _key_admits(document, service: str) -> bool:  # type: ignore[no-untyped-def]
    for statement in service_grants(document, service):
        conditions = {k.lower() for ops in (statement.get("Condition") or {}).values() for k in ops}
        if service in NO_SOURCE_CONDITION and conditions & set(SOURCE_KEYS):
            continue
        if all(allows([statement], action, "*") for action in KMS_ACTIONS):
            return True
    return False


def _check_topic(resources, topic, report_violation) -> None:  # type: ignore[no-untyped-def]
    topic_arn, key_arn = get(topic.props, "arn"), get(topic.props, "kmsMasterKeyId")
    if not isinstance(topic_arn, str) or not isinstance(key_arn, str) or not key_arn:
        return
    services = publishers(resources, topic_arn)
    if "alias/aws/sns" in key_arn and services:
        report_violation(
            f"topic `{topic.name}` uses the AWS-managed alias/aws/sns, which AWS services cannot publish "
            f"with ({', '.join(sorted(services))}); use a customer-managed key",
            topic.urn,
        )
        return
    key = by_arn(resources, KMS_KEY, key_arn)
    document = get(key.props, "policy") if key is not None else None
    policies = [p for p in of_type(resources, TOPIC_POLICY) if get(p.props, "arn") == topic_arn]
    for service in sorted(services):
        if known_document(document) and not _key_admits(document, service):
            report_violation(
                f"topic `{topic.name}` is encrypted with key `{key.name if key else key_arn}` whose policy "
                f"does not let {service} kms:GenerateDataKey* and kms:Decrypt (without aws:Source* "
                "conditions for EventBridge): its notifications are dropped; add a statement",
                topic.urn,
            )
        if policies and not any(
            allows(service_grants(get(p.props, "policy"), service), "sns:Publish", topic_arn)
            for p in policies
        ):
            report_violation(
                f"topic `{topic.name}`'s policy does not let {service} sns:Publish: add it", topic.urn
            )
    for role in of_type(resources, ROLE):
        statements = role_statements(resources, role)
        if allows(statements, "sns:Publish", topic_arn) and not all(
            allows(statements, a, key_arn) for a in KMS_ACTIONS
        ):
            report_violation(
                f"role `{role.name}` may publish to the encrypted topic `{topic.name}` but not "
                f"kms:GenerateDataKey* / kms:Decrypt on its key {key_arn}: its Publish calls fail",
                topic.urn,
            )


def validate(args, report_violation) -> None:  # type: ignore[no-untyped-def]
    resources = list(args.resources)
    for topic in of_type(resources, TOPIC):
        _check_topic(resources, topic, report_violation)


RULE = stack_rule(
    "sns-topic-cmk-publishers",
    "every publisher of a CMK-encrypted topic may use its key and is admitted by the topic policy",
    "4",
    (),
    (TOPIC,),
    validate,
)
