"""Offline compliance check: the CrossGuard pack's own policy functions over a deployment, with the
engine's verdict (runbook 1-4 before anything is deployed).

Each resource becomes pulumi-policy's ``ResourceValidationArgs`` / ``PolicyResource`` (with parents,
dependencies and property dependencies), so a policy behaves here as it does under the engine. The verdict
is exact: a violation is FAIL under ``mandatory`` (and ``remediate``, which the engine reports as
mandatory), WARN under ``advisory``; a ``disabled`` policy is SKIP; a rule that does not apply (a
prod-only rule on staging, a resource it does not judge) is N/A, never PASS; a suppressed violation is
SUPPRESSED with its reason. Only FAIL makes the exit code 1. A policy that raises on the deployment's
values is bad input naming the policy and the resource, never a traceback and never a pass.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pulumi_policy import PolicyResource, ResourceValidationArgs, StackValidationArgs

from backupctl.errors import BadInput
from backupctl.offline.deployment import ROOT_STACK, Target, environment_of, policy_resources, stack_name
from backupctl.offline.policyconfig import PolicyConfig, parse_policy_config
from backupctl.offline.suppressions import check_file_entries, check_tags
from maestro_policies import RULES
from maestro_policies._base import Rule, label
from maestro_policies._scope import SCOPE, FileSuppression, Scope

STATUSES = ("FAIL", "WARN", "SUPPRESSED", "PASS", "SKIP", "N/A")
VIOLATION = {"mandatory": "FAIL", "remediate": "FAIL", "advisory": "WARN"}


@dataclass(frozen=True)
class Result:
    """One verdict of one rule on one resource (``urn`` empty: on the stack as a whole)."""

    status: str
    rule: Rule
    level: str
    urn: str
    message: str
    resource_type: str = ""
    suppression: tuple[str, str] | None = None  # (kind, reason)

    @property
    def resource_name(self) -> str:
        return self.urn.rsplit("::", 1)[-1] if self.urn else ""

    @property
    def check(self) -> str:
        return self.rule.name

    @property
    def section(self) -> str:
        return self.rule.section

    @property
    def resource(self) -> str:
        """The URN, or "stack" for a finding about the stack as a whole (the old Finding's field)."""
        return self.urn or "stack"

    @property
    def mandatory(self) -> bool:
        return self.level in ("mandatory", "remediate")


@dataclass(frozen=True)
class TargetReport:
    target: Target
    results: list[Result]
    resources: int


def _not_applicable(exc: Exception) -> str | None:
    """The reason of pulumi-policy's not-applicable signal (``args.not_applicable``), else None."""
    if type(exc).__name__ == "_NotApplicableError":
        return str(getattr(exc, "reason", "") or "does not apply")
    return None


def _crash(target: Target, rule: Rule, urn: str, exc: Exception) -> BadInput:
    where = f"{target.file}: {urn.rsplit('::', 1)[-1] or 'the stack'}" if urn else target.file
    return BadInput(
        f"{where}: policy {rule.name}",
        "resource properties of the shape `pulumi stack export` writes",
        f"values it cannot read ({type(exc).__name__}: {exc})",
    )


def _run(
    target: Target, rule: Rule, resources: Sequence[PolicyResource], config: Mapping[str, Any]
) -> tuple[list[tuple[str, str]], dict[str, str]]:
    """(violations as (message, urn), not-applicable as {urn: reason}) of one rule."""
    violations: list[tuple[str, str]] = []
    skipped: dict[str, str] = {}
    if rule.stack_level:
        try:
            rule.policy.validate(
                StackValidationArgs(list(resources), config),  # type: ignore[arg-type]
                lambda message, urn=None: violations.append((message, urn or "")),
            )
        except Exception as exc:
            reason = _not_applicable(exc)
            if reason is None:
                raise _crash(target, rule, "", exc) from None
            skipped[""] = reason
        return violations, skipped
    for r in rule.subjects_in(resources):
        args = ResourceValidationArgs(r.resource_type, r.props, r.urn, r.name, r.opts, None, config)
        try:
            rule.policy.validate(
                args,  # type: ignore[arg-type]
                lambda message, _urn=None, urn=r.urn: violations.append((message, urn)),
            )
        except Exception as exc:
            reason = _not_applicable(exc)
            if reason is None:
                raise _crash(target, rule, r.urn, exc) from None
            skipped[r.urn] = reason
    return violations, skipped


def judge(
    target: Target, rule: Rule, resources: Sequence[PolicyResource], config: PolicyConfig
) -> list[Result]:
    """Every verdict of ``rule`` on ``target``."""
    level = config.level(rule)
    if level == "disabled":
        return [Result("SKIP", rule, level, "", f"disabled by {config.level_source(rule)}")]
    scope = SCOPE.get()
    before = len(scope.suppressed) if scope is not None else 0
    violations, skipped = _run(target, rule, resources, config.properties.get(rule.name, {}))
    types = {r.urn: r.resource_type for r in resources}
    results = [Result(VIOLATION[level], rule, level, urn, msg, types.get(urn, "")) for msg, urn in violations]
    for s in scope.suppressed[before:] if scope is not None else []:
        results.append(
            Result("SUPPRESSED", rule, level, s.urn, s.message, types.get(s.urn, ""), (s.kind, s.reason))
        )
    results += [
        Result("N/A", rule, level, urn, reason, types.get(urn, "")) for urn, reason in skipped.items()
    ]
    if "" in skipped:
        return results
    judged = {r.urn for r in results}
    results += [
        Result("PASS", rule, level, r.urn, f"{label(r)}: {rule.text}", r.resource_type)
        for r in rule.subjects_in(resources)
        if r.urn not in judged
    ]
    if not results:
        results.append(Result("N/A", rule, level, "", "nothing in the stack that this rule applies to"))
    return results


def evaluate(
    target: Target,
    *,
    config: PolicyConfig | None = None,
    rules: Sequence[Rule] = RULES,
    suppressions: Sequence[FileSuppression] = (),
) -> TargetReport:
    """Every rule over ``target``, with its environment and suppressions in scope."""
    config = config or PolicyConfig()
    resources = policy_resources(target.deployment)
    check_tags(resources, target.environment, target.file)
    check_file_entries(suppressions, target.environment, rules)
    token = SCOPE.set(Scope(target.environment, suppressions))
    try:
        results = [result for rule in rules for result in judge(target, rule, resources, config)]
    finally:
        SCOPE.reset(token)
    counted = sum(1 for r in target.resources if r.get("custom", True) and r["type"] != ROOT_STACK)
    return TargetReport(target, results, counted)


def exit_code(reports: Sequence[TargetReport], *, soft_fail: bool = False) -> int:
    """0 clean (or ``--soft-fail``), 1 when a mandatory policy failed; WARN, SUPPRESSED never count."""
    failed = any(r.status == "FAIL" for report in reports for r in report.results)
    return 1 if failed and not soft_fail else 0


def counts(results: Sequence[Result]) -> dict[str, int]:
    keys = {
        "PASS": "passed",
        "FAIL": "failed",
        "WARN": "warnings",
        "SUPPRESSED": "suppressed",
        "SKIP": "skipped",
    }
    totals = dict.fromkeys([*keys.values(), "notApplicable"], 0)
    for r in results:
        totals[keys.get(r.status, "notApplicable")] += 1
    return totals


def run_rules(
    deployment: Mapping[str, Any],
    *,
    config: Mapping[str, Any] | None = None,
    rules: Sequence[Rule] = RULES,
    stack: str = "",
    environment: str | None = None,
) -> list[Result]:
    """The verdicts of ``rules`` on one deployment, for tests and benchmarks: ``config`` is a policy
    config document (as in a --policy-config file), the environment is decided as for --deployment."""
    parsed = parse_policy_config(dict(config or {}), "(inline)", rules)
    name = stack or stack_name(deployment)
    target = Target("stack", name, f"Pulumi.{name}.yaml", environment_of(deployment, environment), deployment)
    return evaluate(target, config=parsed, rules=rules).results
