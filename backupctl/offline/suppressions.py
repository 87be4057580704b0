"""Suppressions of one finding for one resource, always with a reason (runbook 4: every exception to the
runbook is written down and reviewed), in the two places checkov users expect them:

- a resource tag ``maestro:skip:<policy>`` whose value is the reason, set from the program so it is
  reviewed like code (SARIF ``inSource``);
- a suppressions file (``--suppressions FILE``) for deployments one does not own (SARIF ``external``):
  ``{"suppressions": [{"policy": "s3-bucket-tls-only", "resource": "<URN, name or glob>", "reason": ".."}]}``.

A suppression without a reason, for an unknown policy, or of a rule that may not be suppressed in prod is
bad input (exit 2), found before any policy runs on the deployment.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Sequence
from typing import Any

from pulumi_policy import PolicyResource

from backupctl.errors import BadInput
from backupctl.files import read_json
from maestro_policies import RULES
from maestro_policies._base import Rule
from maestro_policies._scope import PROD, SKIP_TAG, FileSuppression, skip_reason

EXPECTED = '{"suppressions": [{"policy": ..., "resource": ..., "reason": ...}]}'


def _text(entry: dict[str, Any], key: str, where: str) -> str:
    value = entry.get(key)
    if not isinstance(value, str) or not value.strip():
        raise BadInput(
            f"{where}.{key}", "a non-empty string" + (" saying why" if key == "reason" else ""), value
        )
    return value.strip()


def load_suppressions(path: str | None, rules: Sequence[Rule] = RULES) -> list[FileSuppression]:
    if not path:
        return []
    data = read_json(path, "--suppressions", EXPECTED)
    entries = data.get("suppressions") if isinstance(data, dict) else None
    if not isinstance(entries, list):
        raise BadInput(f"--suppressions {path}", EXPECTED, type(data).__name__)
    names = [r.name for r in rules]
    found: list[FileSuppression] = []
    for index, entry in enumerate(entries):
        where = f"--suppressions {path}: suppressions[{index}]"
        if not isinstance(entry, dict):
            raise BadInput(where, "an object with policy, resource and reason", type(entry).__name__)
        unknown = sorted(set(entry) - {"policy", "resource", "reason"})
        if unknown:
            raise BadInput(f"{where}.{unknown[0]}", "only policy, resource and reason", repr(unknown[0]))
        policy = _text(entry, "policy", where)
        if not any(fnmatch.fnmatchcase(n, policy) for n in names):
            raise BadInput(f"{where}.policy", "a policy of the pack (or a glob)", policy)
        found.append(
            FileSuppression(policy, _text(entry, "resource", where), _text(entry, "reason", where), where)
        )
    return found


def check_tags(resources: Sequence[PolicyResource], environment: str, where: str) -> None:
    """Refuse ``maestro:skip:*`` tags without a reason, for unknown policies, or of a rule that may not be
    suppressed when ``environment`` is prod (whatever subset of the pack this run checks)."""
    by_name = {r.name: r for r in RULES}
    for resource in resources:
        tags = resource.props.get("tags")
        if not isinstance(tags, dict):
            continue
        for tag in (str(t) for t in tags if str(t).startswith(SKIP_TAG)):
            policy = tag[len(SKIP_TAG) :]
            here = f"{where}: {resource.name}: tag {tag}"
            if policy not in by_name:
                raise BadInput(here, "maestro:skip:<a policy of the pack>", "an unknown policy")
            if not skip_reason(resource.props, policy):
                raise BadInput(here, "a reason as the tag's value", "an empty value")
            if not by_name[policy].suppressible and environment == PROD:
                raise BadInput(
                    here, f"no suppression: {policy} cannot be suppressed in prod", "a suppression"
                )


def check_file_entries(entries: Sequence[FileSuppression], environment: str, rules: Sequence[Rule]) -> None:
    """Refuse a file suppression that would silence a rule that may not be suppressed in prod."""
    if environment != PROD:
        return
    for entry in entries:
        for rule in rules:
            if not rule.suppressible and fnmatch.fnmatchcase(rule.name, entry.policy):
                raise BadInput(
                    f"{entry.where}.policy",
                    f"no suppression: {rule.name} cannot be suppressed in prod",
                    entry.policy,
                )
