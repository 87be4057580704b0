"""lambda-function-failure-path: every scheduled function fails loudly (runbook 1.3, 3, 4).

Scheduler invokes Lambda asynchronously: its retries and dead-letter queue cover failures to invoke
(https://docs.aws.amazon.com/lambda/latest/dg/with-eventbridge-scheduler.html), while the function's
own errors end after Lambda's async retries unless an on-failure destination or an Errors alarm
catches them (https://docs.aws.amazon.com/lambda/latest/dg/invocation-async.html). So each schedule needs
a dead-letter queue that is alarmed, and each function an Errors alarm or an on-failure destination.
"""

from __future__ import annotations

from maestro_policies._base import FUNCTION, SCHEDULE, as_list, get, of_type, stack_rule
from maestro_policies._wiring import INVOKE_CONFIG, METRIC_ALARM, QUEUE, by_arn


def _alarmed(resources, namespace: str, metric: str, dimension: str, value) -> bool:  # type: ignore[no-untyped-def]
    return any(
        get(a.props, "namespace") == namespace
        and get(a.props, "metricName") == metric
        and get(a.props, "dimensions", dimension) == value
        and as_list(get(a.props, "alarmActions"))
        for a in of_type(resources, METRIC_ALARM)
    )


def _has_destination(resources, function) -> bool:  # type: ignore[no-untyped-def]
    names = {get(function.props, "name"), get(function.props, "arn")}
    return any(
        get(c.props, "functionName") in names
        and get(c.props, "destinationConfig", "onFailure", "destination")
        for c in of_type(resources, INVOKE_CONFIG)
    )


def validate(args, report_violation) -> None:  # type: ignore[no-untyped-def]
    resources = list(args.resources)
    for schedule in of_type(resources, SCHEDULE):
        function = by_arn(resources, FUNCTION, get(schedule.props, "target", "arn"))
        if function is None:
            continue  # not a Lambda target of this stack
        queue = by_arn(resources, QUEUE, get(schedule.props, "target", "deadLetterConfig", "arn"))
        if queue is None:
            report_violation(
                f"schedule `{schedule.name}` has no dead-letter queue in the stack: an invocation that fails "
                "(access denied, the payload key) is dropped without a sound; add target.deadLetterConfig",
                schedule.urn,
            )
        elif not _alarmed(
            resources, "AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", get(queue.props, "name")
        ):
            report_violation(
                f"dead-letter queue `{queue.name}` of schedule `{schedule.name}` has no alarm with actions: "
                "events pile up unseen; alarm on ApproximateNumberOfMessagesVisible > 0",
                schedule.urn,
            )
        name = get(function.props, "name")
        if not _alarmed(resources, "AWS/Lambda", "Errors", "FunctionName", name) and not _has_destination(
            resources, function
        ):
            report_violation(
                f"function `{function.name}` has neither an Errors alarm nor an on-failure destination: when "
                "it fails after Lambda's retries nobody hears of it",
                schedule.urn,
            )


RULE = stack_rule(
    "lambda-function-failure-path",
    "every scheduled function has an alarmed dead-letter queue and an Errors alarm or failure destination",
    "4",
    (),
    (SCHEDULE,),
    validate,
)
