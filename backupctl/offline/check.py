"""Offline compliance check: the CrossGuard pack's own policy functions over a deployment.

A deployment is any ``pulumi stack export`` (version 3) or a ``backupctl preview`` result. Each
resource becomes pulumi-policy's own ``ResourceValidationArgs`` / ``PolicyResource`` (with parents,
dependencies and property dependencies), so a policy behaves here as it does under the engine.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    PolicyCustomTimeouts,
    PolicyResource,
    PolicyResourceOptions,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
)

from backupctl.errors import BadInput
from backupctl.findings import Finding
from maestro_policies import RULES, Rule


def load_deployment(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise BadInput(str(path), "an existing deployment file", "no such file") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BadInput(str(path), "JSON from `pulumi stack export`", f"invalid JSON ({exc})") from None
    validate_deployment(data, str(path))
    return data


def validate_deployment(data: Any, where: str) -> None:
    resources = data.get("deployment", {}).get("resources") if isinstance(data, dict) else None
    if not isinstance(data, dict) or not isinstance(data.get("deployment"), dict):
        raise BadInput(
            where,
            "a stack export with a `deployment` object",
            type(data).__name__ if not isinstance(data, dict) else "no `deployment`",
        )
    if not isinstance(resources, list):
        raise BadInput(f"{where}: deployment.resources", "a list of resources", type(resources).__name__)
    for index, resource in enumerate(resources):
        if not isinstance(resource, dict):
            raise BadInput(f"{where}: deployment.resources[{index}]", "an object", type(resource).__name__)
        for key in ("urn", "type"):
            if not isinstance(resource.get(key), str) or not resource[key]:
                raise BadInput(
                    f"{where}: deployment.resources[{index}].{key}",
                    f"a non-empty {key} string",
                    resource.get(key),
                )


def _props(resource: Mapping[str, Any]) -> dict[str, Any]:
    """Preview deployments hold inputs; a deployed stack's state is richer in outputs. Merge both."""
    return {**(resource.get("outputs") or {}), **(resource.get("inputs") or {})}


def _opts(resource: Mapping[str, Any]) -> PolicyResourceOptions:
    return PolicyResourceOptions(
        protect=bool(resource.get("protect")),
        ignore_changes=[],
        delete_before_replace=None,
        aliases=[],
        custom_timeouts=PolicyCustomTimeouts(0, 0, 0),
        additional_secret_outputs=[],
        parent=resource.get("parent"),
    )


def _name(urn: str) -> str:
    return urn.rsplit("::", 1)[-1]


def policy_resources(deployment: Mapping[str, Any]) -> list[PolicyResource]:
    raw = [
        r
        for r in deployment["deployment"]["resources"]
        if r.get("custom", True) and not str(r["type"]).startswith("pulumi:providers:")
    ]
    by_urn: dict[str, PolicyResource] = {}
    for r in raw:
        by_urn[r["urn"]] = PolicyResource(
            r["type"], _props(r), r["urn"], _name(r["urn"]), _opts(r), None, None, [], {}
        )
    for r in raw:
        resource = by_urn[r["urn"]]
        resource.parent = by_urn.get(r.get("parent") or "")
        resource.dependencies = [by_urn[d] for d in r.get("dependencies") or [] if d in by_urn]
        resource.property_dependencies = {
            k: [by_urn[d] for d in v if d in by_urn] for k, v in (r.get("propertyDependencies") or {}).items()
        }
    return list(by_urn.values())


def _mandatory(rule: Rule, levels: Mapping[str, str]) -> bool:
    level = levels.get(rule.name) or (rule.policy.enforcement_level or EnforcementLevel.MANDATORY).value
    return level == EnforcementLevel.MANDATORY.value


def run_rules(
    deployment: Mapping[str, Any],
    *,
    config: Mapping[str, Mapping[str, Any]] | None = None,
    rules: Sequence[Rule] = RULES,
    stack: str = "",
) -> list[Finding]:
    """Every rule over every resource; a PASS for each targeted resource that drew no violation."""
    config = config or {}
    levels = {k: v.get("enforcementLevel", "") for k, v in config.items() if isinstance(v, Mapping)}
    resources = policy_resources(deployment)
    findings: list[Finding] = []
    for rule in rules:
        if levels.get(rule.name) == "disabled":
            continue
        rule_config = {k: v for k, v in (config.get(rule.name) or {}).items() if k != "enforcementLevel"}
        violations: list[tuple[str, str | None]] = []
        record = violations.append
        if isinstance(rule.policy, ResourceValidationPolicy):
            for r in resources:
                if r.resource_type not in rule.targets:
                    continue
                args = ResourceValidationArgs(
                    r.resource_type, r.props, r.urn, r.name, r.opts, None, rule_config
                )
                rule.policy.validate(
                    args, lambda message, _urn=None, urn=r.urn, sink=record: sink((message, urn))
                )
        else:
            rule.policy.validate(
                StackValidationArgs(resources, rule_config),
                lambda message, urn=None, sink=record: sink((message, urn)),
            )
        mandatory = _mandatory(rule, levels)
        failed = {urn for _, urn in violations}
        for message, urn in violations:
            findings.append(
                Finding("FAIL", rule.section, rule.name, urn or f"stack {stack}".strip(), message, mandatory)
            )
        for r in resources:
            if r.resource_type in rule.targets and r.urn not in failed:
                findings.append(
                    Finding(
                        "PASS",
                        rule.section,
                        rule.name,
                        r.urn,
                        f"{r.resource_type.split(':')[-1]} `{r.name}`: {rule.policy.description}",
                        mandatory,
                    )
                )
    return findings


def load_policy_config(path: str | None) -> dict[str, Any]:
    if not path:
        return {}
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise BadInput(path, "an existing policy config file", "no such file") from None
    except json.JSONDecodeError as exc:
        raise BadInput(
            path, "JSON policy config (policy name -> settings)", f"invalid JSON ({exc})"
        ) from None
    if not isinstance(data, dict) or not all(isinstance(v, dict) for v in data.values()):
        raise BadInput(path, "an object of policy name -> settings object", type(data).__name__)
    known = {rule.name for rule in RULES}
    unknown = sorted(set(data) - known)
    if unknown:
        raise BadInput(f"{path}: {unknown[0]}", "a policy name of the pack", unknown[0])
    return data


def sarif(findings: Sequence[Finding]) -> dict[str, Any]:
    """SARIF 2.1.0 for code-scanning upload: one result per failure."""
    return {
        "version": "2.1.0",
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "backupctl",
                        "rules": [
                            {"id": r.name, "shortDescription": {"text": r.policy.description}} for r in RULES
                        ],
                    }
                },
                "results": [
                    {
                        "ruleId": f.check,
                        "level": "error" if f.mandatory else "warning",
                        "message": {"text": f.message},
                        "locations": [
                            {
                                "physicalLocation": {"artifactLocation": {"uri": "Pulumi.yaml"}},
                                "logicalLocations": [{"fullyQualifiedName": f.resource}],
                            }
                        ],
                    }
                    for f in findings
                    if f.status == "FAIL"
                ],
            }
        ],
    }
