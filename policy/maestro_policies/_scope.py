"""Where a rule applies and whether a violation counts: the stack's environment (prod-only rules), and
suppressions (runbook 4: every exception is written down with its reason and reviewed like code).

The environment is decided by the stack, and any sign of prod wins (prod rules only add protection):
offline, backupctl sets it (``decide_environment``) from ``--environment`` if given, else prod when the
program's ``environment`` output or the stack name says prod; under the Pulumi engine it is prod when the
stack name every URN carries (``urn:pulumi:<stack>::<project>::...``) says prod or a resource carries the
``maestro:environment: prod`` tag. A stack name says prod when ``prod`` or ``production`` is the whole name
or one of its ``-``/``_``/``.`` separated parts, in any case and not after ``non`` or ``pre``: ``prod``,
``Prod``, ``production``, ``prod-eu``, ``eu_prod``, but not ``non-prod``, ``pre-prod`` or ``products``.
A prod export whose resources lost their tag is still prod.

A suppression names one policy for one resource, with a reason: the resource tag
``maestro:skip:<policy>`` (set from the program, so it is reviewed like code) or, offline, an entry of a
suppressions file for deployments one does not own. Under the engine a suppressed violation is dropped;
offline it is recorded and shown as SUPPRESSED with its reason. A rule marked not suppressible ignores
suppressions in prod.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

SKIP_TAG = "maestro:skip:"
PROD = "prod"
ENVIRONMENT_TAG = "maestro:environment"
_PROD_PARTS = ("prod", "production")
_NOT_PROD_BEFORE = ("non", "pre")  # non-prod, pre-prod


def prod_named(name: str) -> bool:
    """Whether a stack or environment name says prod (see the module's docstring)."""
    parts = [part for part in re.split(r"[^a-z0-9]+", name.lower()) if part]
    before = ["", *parts]
    return any(part in _PROD_PARTS and before[i] not in _NOT_PROD_BEFORE for i, part in enumerate(parts))


def decide_environment(stack: str, declared: str | None = None, explicit: str | None = None) -> str:
    """The environment to check a stack as: ``explicit`` (the operator's ``--environment``) when given;
    else prod when the program's ``declared`` environment or the stack name says prod; else the declared
    environment, else the stack name."""
    if explicit:
        return explicit
    if prod_named(declared or "") or prod_named(stack):
        return PROD
    return declared or stack


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


def _tagged_prod(props: Any) -> bool:
    tags = props.get("tags") if isinstance(props, Mapping) else None
    return isinstance(tags, Mapping) and tags.get(ENVIRONMENT_TAG) == PROD


def is_prod(source: Any = None) -> bool:
    """Whether the stack is prod. ``source`` is the validation args, the resources or a bare property
    mapping (the old signature). What the runner set decides; without a runner (the engine), prod when the
    stack name says prod or a resource is tagged prod."""
    scope = SCOPE.get()
    if scope is not None:
        return scope.environment == PROD
    if isinstance(source, Mapping):
        return _tagged_prod(source)
    resources = getattr(source, "resources", None) or (source if isinstance(source, list) else [])
    return (
        prod_named(environment(source))
        or _tagged_prod(getattr(source, "props", None))
        or any(_tagged_prod(getattr(r, "props", None)) for r in resources)
    )


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
