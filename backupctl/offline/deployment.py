"""What `backupctl check` checks: a deployment (``pulumi stack export`` version 3, or a ``backupctl preview``)
read from a file or stdin, validated shape by shape before any policy runs, turned into pulumi-policy's own
``PolicyResource`` objects, and the stack it belongs to (runbook 1-4: the rules are judged per stack).

Every way a deployment can be malformed (a directory, not UTF-8, not JSON, numbers JSON cannot hold,
``"inputs": "str"``, ``propertyDependencies: {"a": 5}``, ...) is one ``BadInput`` line naming the file,
the resource and the field. Values inside ``inputs``/``outputs`` are the policies' business: a wrong
type there is a finding, not a crash.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from backupctl.errors import BadInput
from backupctl.files import parse_json, read_text

if TYPE_CHECKING:
    from pulumi_policy import PolicyResource, PolicyResourceOptions

ROOT_STACK = "pulumi:pulumi:Stack"
EXPECTED = "JSON from `pulumi stack export`"
STDIN = "-"


@dataclass(frozen=True)
class Target:
    """One thing checked: a stack previewed under mocks, or a deployment file."""

    kind: str  # "stack" or "deployment"
    name: str  # the stack name, or the deployment file as given
    file: str  # what a finding points at: Pulumi.<stack>.yaml or the deployment file ("stdin" for -)
    environment: str
    deployment: Mapping[str, Any]

    @property
    def resources(self) -> list[Mapping[str, Any]]:
        return list(self.deployment["deployment"]["resources"])


def read_deployment(path: str) -> dict[str, Any]:
    """The deployment in ``path`` (``-`` for stdin), validated; BadInput otherwise."""
    if path == STDIN:
        try:
            text = sys.stdin.buffer.read().decode("utf-8")
        except UnicodeDecodeError as exc:
            raise BadInput(
                "--deployment -", EXPECTED, f"bytes that are not UTF-8 at offset {exc.start}"
            ) from None
        where = "--deployment - (stdin)"
    else:
        text = read_text(path, "--deployment", "a readable UTF-8 deployment file")
        where = f"--deployment {path}"
    data = parse_json(text, where, EXPECTED)
    validate_deployment(data, where)
    return data


def _kind(value: object) -> str:
    return {dict: "an object", list: "a list", str: "a string", bool: "a boolean"}.get(
        type(value), "null" if value is None else f"a {type(value).__name__}"
    )


def _check(ok: bool, where: str, expected: str, value: object) -> None:
    if not ok:
        raise BadInput(where, expected, _kind(value) if not isinstance(value, (str, int)) else value)


def _strings(value: object) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


def _validate_resource(resource: object, where: str) -> None:
    _check(isinstance(resource, dict), where, "an object", resource)
    assert isinstance(resource, dict)
    for key in ("urn", "type"):
        value = resource.get(key)
        _check(isinstance(value, str) and bool(value), f"{where}.{key}", f"a non-empty {key} string", value)
    urn = resource["urn"]
    _check(urn.startswith("urn:pulumi:") and urn.count("::") >= 3, f"{where}.urn", "a Pulumi URN", urn)
    for key in ("inputs", "outputs"):
        value = resource.get(key)
        _check(value is None or isinstance(value, dict), f"{where}.{key}", "an object of properties", value)
    for key in ("custom", "protect"):
        value = resource.get(key)
        _check(value is None or isinstance(value, bool), f"{where}.{key}", "true or false", value)
    parent = resource.get("parent")
    _check(parent is None or isinstance(parent, str), f"{where}.parent", "a URN string", parent)
    deps = resource.get("dependencies")
    _check(deps is None or _strings(deps), f"{where}.dependencies", "a list of URN strings", deps)
    prop_deps = resource.get("propertyDependencies")
    _check(
        prop_deps is None or isinstance(prop_deps, dict),
        f"{where}.propertyDependencies",
        "an object",
        prop_deps,
    )
    for key, urns in (prop_deps or {}).items():
        _check(_strings(urns), f"{where}.propertyDependencies.{key}", "a list of URN strings", urns)


def validate_deployment(data: Any, where: str) -> None:
    _check(isinstance(data, dict), where, "a stack export object with a `deployment`", data)
    _check("deployment" in data, where, "a stack export with a `deployment` object", "no `deployment`")
    deployment = data["deployment"]
    _check(isinstance(deployment, dict), f"{where}: deployment", "an object", deployment)
    resources = deployment.get("resources")
    _check(isinstance(resources, list), f"{where}: deployment.resources", "a list of resources", resources)
    for index, resource in enumerate(resources):
        _validate_resource(resource, f"{where}: deployment.resources[{index}]")
    if not any(r.get("custom", True) and r["type"] != ROOT_STACK for r in resources):
        raise BadInput(f"{where}: deployment.resources", "at least one resource to check", "nothing to check")


def stack_name(deployment: Mapping[str, Any]) -> str:
    """The stack name of a deployment: the root stack's URN (urn:pulumi:<stack>::...), else any URN."""
    resources = deployment["deployment"]["resources"]
    ordered = sorted(resources, key=lambda r: r["type"] != ROOT_STACK)
    for resource in ordered:
        head = str(resource["urn"]).split("::", 1)[0]
        if head.count(":") >= 2:
            return head.split(":", 2)[2]
    return ""


def _props(resource: Mapping[str, Any]) -> dict[str, Any]:
    """Preview deployments hold inputs; a deployed stack's state is richer in outputs. Merge both."""
    return {**(resource.get("outputs") or {}), **(resource.get("inputs") or {})}


def _opts(resource: Mapping[str, Any]) -> PolicyResourceOptions:
    from pulumi_policy import PolicyCustomTimeouts, PolicyResourceOptions  # noqa: PLC0415 - not needed to read

    return PolicyResourceOptions(
        protect=bool(resource.get("protect")),
        ignore_changes=[],
        delete_before_replace=None,
        aliases=[],
        custom_timeouts=PolicyCustomTimeouts(0, 0, 0),
        additional_secret_outputs=[],
        parent=resource.get("parent"),
    )


def policy_resources(deployment: Mapping[str, Any]) -> list[PolicyResource]:
    """Every resource but providers, as the engine hands them to stack policies (components and the root
    stack included: its outputs are what the stack exports)."""
    from pulumi_policy import PolicyResource  # noqa: PLC0415 - reading a deployment needs none of it

    raw = [
        r for r in deployment["deployment"]["resources"] if not str(r["type"]).startswith("pulumi:providers:")
    ]
    by_urn: dict[str, PolicyResource] = {}
    for r in raw:
        name = r["urn"].rsplit("::", 1)[-1]
        by_urn[r["urn"]] = PolicyResource(r["type"], _props(r), r["urn"], name, _opts(r), None, None, [], {})
    for r in raw:
        resource = by_urn[r["urn"]]
        resource.parent = by_urn.get(r.get("parent") or "")
        resource.dependencies = [by_urn[d] for d in r.get("dependencies") or [] if d in by_urn]
        resource.property_dependencies = {
            k: [by_urn[d] for d in v if d in by_urn] for k, v in (r.get("propertyDependencies") or {}).items()
        }
    return list(by_urn.values())


def declared_environment(deployment: Mapping[str, Any]) -> str | None:
    """The program's ``environment`` output on the root stack, if the export has one."""
    root = next((r for r in deployment["deployment"]["resources"] if r["type"] == ROOT_STACK), {})
    value = (root.get("outputs") or {}).get("environment")
    return value if isinstance(value, str) and value else None


def environment_of(deployment: Mapping[str, Any], explicit: str | None = None) -> str:
    """The environment to check ``deployment`` as: ``explicit`` (``--environment``), else decided from its
    ``environment`` output and stack name (any sign of prod wins; ``maestro_policies._scope``)."""
    from maestro_policies._scope import decide_environment  # noqa: PLC0415 the pack loads on demand

    return decide_environment(stack_name(deployment), declared_environment(deployment), explicit)


def deployment_target(path: str, environment: str | None) -> Target:
    """A deployment file as a check target, checked as ``environment_of`` it."""
    data = read_deployment(path)
    file = "stdin" if path == STDIN else Path(path).as_posix()
    return Target("deployment", file, file, environment_of(data, environment), data)
