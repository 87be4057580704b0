"""The policy configuration a user gives `backupctl check --policy-config` (the same file
`pulumi preview --policy-pack-config` reads), parsed the way the Pulumi engine parses it, and the choice
of policies (``--check`` / ``--skip-check``). Serves runbook 1-4: a threshold may be tightened from the
runbook's value, never loosened, and nothing the tool does not understand is silently bent.

Engine semantics (pulumi ``pkg/resource/analyzer/config.go``): a top-level value is an enforcement level
(``{"all": "advisory"}``, ``{"<policy>": "advisory"}``) or an object with an optional
``enforcementLevel`` and the policy's properties; exactly ``advisory``, ``mandatory``, ``remediate`` and
``disabled`` are levels; ``all`` sets every policy's level first, then each policy's entry overrides it.
Properties are validated against the policy's config schema with a JSON Schema validator (draft 7, as
close as Python gets to the engine's hybrid validator, which also takes ``7.0`` as an integer).

Stricter than the engine, on purpose: an unknown policy name, an unknown property (the engine's schemas
do not forbid extra keys), ``environments`` (ESC environments cannot be resolved offline), ``NaN``,
``1e400`` and 400-digit numbers are errors rather than silently ignored or clamped.
"""

from __future__ import annotations

import fnmatch
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from backupctl.errors import BadInput, did_you_mean

if TYPE_CHECKING:
    from jsonschema.exceptions import ValidationError
from backupctl.files import MAX_INT_DIGITS, read_text
from maestro_policies import RULES
from maestro_policies._base import ENFORCEMENT_LEVELS, Rule

EXPECTED = "JSON policy config (policy name -> enforcement level or settings)"
ALL = "all"
LEVELS = ", ".join(ENFORCEMENT_LEVELS)
TYPES = {
    "integer": "an integer",
    "number": "a number",
    "string": "a string",
    "array": "a list",
    "object": "an object",
    "boolean": "true or false",
}


class Unreadable:
    """A JSON number no float or bounded integer can hold (1e400, NaN, a 400-digit integer): kept as
    text so the schema error can name the policy and key it was given for."""

    def __init__(self, text: str) -> None:
        self.text = text

    def __repr__(self) -> str:
        return self.text if len(self.text) <= 24 else f"a {len(self.text.lstrip('-'))}-digit number"


def _float(text: str) -> float | Unreadable:
    value = float(text)
    return value if math.isfinite(value) else Unreadable(text)


def _int(text: str) -> int | Unreadable:
    return Unreadable(text) if len(text.lstrip("-")) > MAX_INT_DIGITS else int(text)


def _loads(text: str, where: str) -> Any:
    try:
        return json.loads(text, parse_float=_float, parse_int=_int, parse_constant=Unreadable)
    except json.JSONDecodeError as exc:
        raise BadInput(
            where, EXPECTED, f"invalid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})"
        ) from None
    except RecursionError:
        raise BadInput(where, EXPECTED, "JSON nested too deeply") from None


@dataclass(frozen=True)
class PolicyConfig:
    """Enforcement levels and properties per policy, and the file they came from."""

    source: str | None = None
    all_level: str | None = None
    levels: Mapping[str, str] = field(default_factory=dict)
    properties: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    def level(self, rule: Rule) -> str:
        return self.levels.get(rule.name) or self.all_level or rule.level

    def level_source(self, rule: Rule) -> str:
        if rule.name in self.levels or self.all_level:
            return f"policy config {self.source}"
        return "the policy's default"


def _level(value: Any, where: str) -> str:
    if not isinstance(value, str) or value not in ENFORCEMENT_LEVELS:
        raise BadInput(where, f"an enforcement level ({LEVELS})", repr(value))
    return value


def _schema(rule: Rule) -> dict[str, Any]:
    return {"type": "object", "properties": rule.config, "additionalProperties": False}


def _explain(rule: Rule, error: ValidationError) -> tuple[str, str, Any]:
    """(key, expected, found) for the first schema error, with the floor and its reason."""
    path = ".".join(str(p) for p in error.absolute_path)
    if error.validator == "additionalProperties":
        instance: Any = error.instance
        extra = str(sorted(set(instance) - set(rule.config))[0])
        keys = ", ".join(sorted(rule.config)) or "none"
        return extra, f"one of the policy's keys ({keys}){did_you_mean(extra, rule.config)}", extra
    key = path.split(".", 1)[0]
    schema = rule.config.get(key, {})
    why = f" ({schema['description']})" if schema.get("description") else ""
    kind = TYPES.get(
        str(error.validator_value if error.validator == "type" else schema.get("type")), "a value"
    )
    bounds = " and ".join(
        f"{op} {schema[b]}" for op, b in ((">=", "minimum"), ("<=", "maximum")) if b in schema
    )
    if error.validator in ("minimum", "maximum", "type") and path == key:
        return path, f"{kind}{' ' + bounds if bounds else ''}{why}", error.instance
    nested = {"type": kind, "minLength": "a non-empty string"}.get(str(error.validator), error.message)
    return path, f"{nested}{why}", error.instance


def _properties(rule: Rule, props: Mapping[str, Any], where: str) -> dict[str, Any]:
    from jsonschema import Draft7Validator  # noqa: PLC0415 - a fifth of a second, only with a policy config

    errors = sorted(
        Draft7Validator(_schema(rule)).iter_errors(dict(props)), key=lambda e: list(e.absolute_path)
    )
    if errors:
        key, expected, found = _explain(rule, errors[0])
        raise BadInput(f"{where}.{key}", expected, repr(found))
    return dict(props)


def parse_policy_config(data: Any, source: str, rules: Sequence[Rule] = RULES) -> PolicyConfig:
    where = f"--policy-config {source}"
    if not isinstance(data, dict):
        raise BadInput(where, "an object of policy name -> level or settings", type(data).__name__)
    if "environments" in data:
        raise BadInput(
            f"{where}: environments", "no ESC environments (they cannot be resolved offline)", "some"
        )
    by_name = {rule.name: rule for rule in rules}
    all_level = _level(data[ALL], f"{where}: {ALL}") if ALL in data else None
    levels: dict[str, str] = {}
    properties: dict[str, dict[str, Any]] = {}
    for name, value in data.items():
        if name == ALL:
            continue
        rule = by_name.get(name)
        if rule is None:
            raise BadInput(
                f"{where}: {name}", f"a policy of the pack{did_you_mean(name, by_name)}", "an unknown policy"
            )
        if isinstance(value, str):
            levels[name] = _level(value, f"{where}: {name}")
        elif isinstance(value, dict):
            props = dict(value)
            if "enforcementLevel" in props:
                levels[name] = _level(props.pop("enforcementLevel"), f"{where}: {name}.enforcementLevel")
            properties[name] = _properties(rule, props, f"{where}: {name}")
        else:
            raise BadInput(f"{where}: {name}", "an enforcement level or an object of settings", repr(value))
    return PolicyConfig(source, all_level, levels, properties)


def load_policy_config(path: str | None) -> PolicyConfig:
    if not path:
        return PolicyConfig()
    text = read_text(path, "--policy-config", "a readable UTF-8 JSON policy config")
    if not text.strip():
        return PolicyConfig(path)  # the engine takes an empty file as no configuration
    return parse_policy_config(_loads(text, f"--policy-config {path}"), path)


def _matches(rule: Rule, pattern: str) -> bool:
    wanted = pattern.lower()
    return fnmatch.fnmatchcase(rule.name, wanted) or wanted in (c.lower() for c in rule.controls)


def select_rules(check: Sequence[str], skip: Sequence[str], rules: Sequence[Rule] = RULES) -> list[Rule]:
    """The rules ``--check`` allows (all when empty) minus those ``--skip-check`` names. Items are policy
    names, globs (``s3-*``) or control IDs (``CKV_AWS_7``, ``RDS.11``); an item matching nothing is an
    error, as is an item in both lists."""
    for option, items in (("--check", check), ("--skip-check", skip)):
        for item in items:
            if not any(_matches(rule, item) for rule in rules):
                names = [r.name for r in rules]
                raise BadInput(
                    f"{option} {item}",
                    f"a policy name, glob or control ID{did_you_mean(item, names)}",
                    "no match",
                )
    both = sorted(set(check) & set(skip))
    if both:
        raise BadInput(f"--check and --skip-check {both[0]}", "each policy in one list only", "it in both")
    chosen = [r for r in rules if (not check or any(_matches(r, i) for i in check))]
    chosen = [r for r in chosen if not any(_matches(r, i) for i in skip)]
    if not chosen:
        raise BadInput("--check/--skip-check", "at least one policy left to run", "none (nothing to check)")
    return chosen
