"""Where a rule applies and whether a violation counts: the stack's environment (prod-only rules), and
suppressions (runbook 4: every exception is written down with its reason and reviewed like code).

The environment is decided by the stack, never by a resource tag: offline, backupctl sets it from the
stack's settings or the deployment's root stack URN; under the Pulumi engine it is the stack name that
every URN carries (``urn:pulumi:<stack>::<project>::...``). A prod export whose resources lost their
``maestro:environment`` tag is still prod.

A suppression names one policy for one resource, with a reason: the resource tag
``maestro:skip:<policy>`` (set from the program, so it is reviewed like code) or, offline, an entry of a
suppressions file for deployments one does not own. Under the engine a suppressed violation is dropped;
offline it is recorded and shown as SUPPRESSED with its reason. A rule marked not suppressible ignores
suppressions in prod.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

SKIP_TAG = "maestro:skip:"
PROD = "prod"


@dataclass(frozen=True)
class FileSuppression:
    """One entry of a suppressions file: a policy (or glob) for a resource URN or name (or glob)."""

    policy: str
    resource: str
    reason: str
    where: str = ""  # file and entry, for messages

    def matches(self, policy: str, urn: str) -> bool:
        name = urn.rsplit("::", 1)[-1] if urn else ""
        return fnmatch.fnmatchcase(policy, self.policy) and (
            fnmatch.fnmatchcase(urn, self.resource)
            or (bool(name) and fnmatch.fnmatchcase(name, self.resource))
        )


@dataclass(frozen=True)
class Suppressed:
    policy: str
    urn: str
    message: str
    kind: str  # "inSource" (a resource tag, reviewed with the program) or "external" (a suppressions file)
    reason: str


@dataclass
class Scope:
    """What the offline runner tells the policies: the environment and the suppressions to apply; the
    suppressed violations are collected here instead of being reported."""

    environment: str
    entries: Sequence[FileSuppression] = ()
    suppressed: list[Suppressed] = field(default_factory=list)


SCOPE: ContextVar[Scope | None] = ContextVar("maestro_policy_scope", default=None)


def stack_of(urn: str) -> str:
    """The stack name every Pulumi URN carries: urn:pulumi:<stack>::<project>::<type>::<name>."""
    head = urn.split("::", 1)[0]
    return head.split(":", 2)[2] if head.startswith("urn:pulumi:") and head.count(":") >= 2 else ""


def _urns(source: Any) -> Iterable[str]:
    urn = getattr(source, "urn", None)
    if isinstance(urn, str):
        yield urn
    for resource in getattr(source, "resources", None) or (source if isinstance(source, list) else []):
        candidate = getattr(resource, "urn", None)
        if isinstance(candidate, str):
            yield candidate


def environment(source: Any = None) -> str:
    """The stack's environment: what the runner set, else the stack name in the URNs of ``source``
    (validation args, a resource or a list of resources)."""
    scope = SCOPE.get()
    if scope is not None:
        return scope.environment
    return next((stack for urn in _urns(source) if (stack := stack_of(urn))), "")


def is_prod(source: Any = None) -> bool:
    """Whether the stack is prod. ``source`` is the validation args or the resources; a bare property
    mapping (the old signature) falls back to its ``maestro:environment`` tag only when neither the runner
    nor a URN says."""
    if isinstance(source, Mapping):
        scope = SCOPE.get()
        if scope is not None:
            return scope.environment == PROD
        tags = source.get("tags")
        return isinstance(tags, Mapping) and tags.get("maestro:environment") == PROD
    return environment(source) == PROD


def skip_reason(props: Any, policy: str) -> str | None:
    """The reason of a ``maestro:skip:<policy>`` tag, or None when there is no such tag."""
    tags = props.get("tags") if isinstance(props, Mapping) else None
    if not isinstance(tags, Mapping) or f"{SKIP_TAG}{policy}" not in tags:
        return None
    return str(tags[f"{SKIP_TAG}{policy}"] or "").strip()


def _suppression(policy: str, urn: str, props: Any) -> tuple[str, str] | None:
    reason = skip_reason(props, policy)
    if reason:
        return "inSource", reason
    scope = SCOPE.get()
    for entry in scope.entries if scope is not None else ():
        if entry.matches(policy, urn):
            return "external", entry.reason
    return None


Validate = Callable[[Any, Callable[..., None]], Any]


def scoped(name: str, validate: Validate, *, prod_only: bool, suppressible: bool) -> Validate:
    """``validate`` that is not applicable outside prod when ``prod_only``, and that honours
    suppressions (unless the rule is not suppressible and the stack is prod)."""

    def run(args: Any, report_violation: Callable[..., None]) -> Any:
        if prod_only and not is_prod(args):
            args.not_applicable(f"applies to prod only; this stack is {environment(args) or 'not prod'}")
        props_by_urn: dict[str, Any] | None = None

        def report(message: str, urn: str | None = None) -> None:
            nonlocal props_by_urn
            subject = urn or getattr(args, "urn", None) or ""
            if urn is None and hasattr(args, "props"):
                props = args.props
            else:
                if props_by_urn is None:
                    props_by_urn = {r.urn: r.props for r in getattr(args, "resources", [])}
                props = props_by_urn.get(subject)
            found = _suppression(name, subject, props)
            if found is None or (not suppressible and is_prod(args)):
                report_violation(message, urn)
                return
            scope = SCOPE.get()
            if scope is not None:
                scope.suppressed.append(Suppressed(name, subject, message, *found))

        return validate(args, report)

    return run
