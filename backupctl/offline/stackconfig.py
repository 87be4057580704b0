"""Reads a Pulumi project and one stack's configuration the way the Pulumi engine passes it on.

Project defaults come from ``Pulumi.yaml``'s ``config:`` block, stack values from ``Pulumi.<stack>.yaml``.
YAML is read as Pulumi reads it (YAML 1.2 core schema, as Go's yaml.v3 does): ``yes``/``no``/``on``/``off``
are strings, not booleans, and ``2026-11-29`` is a string, not a date. Values become what the program
sees under the engine: strings, with lists and maps as JSON. Each value remembers which file it came
from, so an error names the right file. Secure values cannot be decrypted offline: they are passed as an
opaque placeholder that the settings accept as valid (and marked secret). A key in the project's
namespace that the program does not know is an error with the closest known key suggested.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from backupctl.errors import BadInput, did_you_mean
from backupctl.files import MAX_INT_DIGITS, read_text, yaml_error
from components.settings import OFFLINE_SECRET, SETTING_KEYS

SECRET_PLACEHOLDER = OFFLINE_SECRET


class PulumiYamlLoader(yaml.SafeLoader):
    """PyYAML's safe loader with YAML 1.2 core-schema scalars instead of YAML 1.1's."""


# YAML 1.1 resolves yes/no/on/off to booleans, 0755 to octal, 1:30 to sexagesimal and dates to
# datetime; YAML 1.2 core (what Pulumi's Go YAML library uses) does none of that.
PulumiYamlLoader.yaml_implicit_resolvers = {
    first: [
        (tag, regexp)
        for tag, regexp in resolvers
        if tag
        not in (
            "tag:yaml.org,2002:bool",
            "tag:yaml.org,2002:int",
            "tag:yaml.org,2002:float",
            "tag:yaml.org,2002:timestamp",
        )
    ]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
PulumiYamlLoader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)
PulumiYamlLoader.add_implicit_resolver(
    "tag:yaml.org,2002:int",
    re.compile(r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$"),
    list("-+0123456789"),
)


PulumiYamlLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(
        r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"
    ),
    list("-+0123456789."),
)


def _construct_int(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> int | str:
    text = str(loader.construct_scalar(node))
    if len(text.lstrip("+-")) > MAX_INT_DIGITS:  # a typo: kept as text so the settings name it
        return text
    if text.startswith("0o"):
        return int(text[2:], 8)
    return int(text, 16) if text.startswith("0x") else int(text)


PulumiYamlLoader.add_constructor("tag:yaml.org,2002:int", _construct_int)


def _construct_mapping(loader: yaml.SafeLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    """Like Go's yaml.v3, refuse a key given twice (PyYAML would silently keep the last value)."""
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node)  # type: ignore[no-untyped-call]
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"the key {key} given twice", key_node.start_mark
            )
        seen.add(key)
    return loader.construct_mapping(node)


PulumiYamlLoader.add_constructor("tag:yaml.org,2002:map", _construct_mapping)


@dataclass(frozen=True)
class StackConfig:
    project: str
    stack: str
    project_dir: Path
    main: Path
    values: dict[str, str]
    secret_keys: tuple[str, ...]
    origins: dict[str, str] = field(default_factory=dict)  # full key -> the file its value came from

    def origin(self, key: str) -> str:
        return self.origins.get(key, f"Pulumi.{self.stack}.yaml")


def read_yaml(path: Path) -> dict[str, Any]:
    text = read_text(path, expected="a readable UTF-8 YAML file")
    try:
        data = yaml.load(text, Loader=PulumiYamlLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        raise yaml_error(exc, path) from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise BadInput(str(path), "a YAML mapping", type(data).__name__)
    return data


def _engine_string(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    return json.dumps(value)


def find_project_dir(start: Path | None = None) -> Path:
    here = (start or Path.cwd()).resolve()
    if not here.is_dir():
        found = "a file" if here.exists() else "no such directory"
        raise BadInput(f"--project-dir {start}", "a directory of a Pulumi project", found)
    for candidate in (here, *here.parents):
        if (candidate / "Pulumi.yaml").is_file():
            return candidate
    raise BadInput(str(here), "a directory inside a Pulumi project (with Pulumi.yaml)", "no Pulumi.yaml")


def list_stacks(project_dir: Path) -> list[str]:
    """The stacks the project's ``Pulumi.<stack>.yaml`` entries name (``check_stack_file`` judges each)."""
    return sorted(p.name[len("Pulumi.") : -len(".yaml")] for p in project_dir.glob("Pulumi.*.yaml"))


def check_stack_file(path: Path) -> None:
    """A stack's file must be a regular file: a directory or device of that name is named, not skipped."""
    if not path.is_file():
        raise BadInput(str(path), "a stack file", "a directory" if path.is_dir() else "no regular file")


def _declared(project: dict[str, Any], project_file: Path, name: str) -> dict[str, str]:
    """Defaults from Pulumi.yaml's config block, as full keys."""
    declared = project.get("config") or {}
    if not isinstance(declared, dict):
        raise BadInput(f"{project_file}: config", "a mapping of config keys", type(declared).__name__)
    values: dict[str, str] = {}
    for key, spec in declared.items():
        full = key if ":" in key else f"{name}:{key}"
        if isinstance(spec, dict) and "default" in spec:
            values[full] = _engine_string(spec["default"])
        elif isinstance(spec, dict) and "value" in spec:
            values[full] = _engine_string(spec["value"])
        elif not isinstance(spec, dict):
            values[full] = _engine_string(spec)
    return values


def _check_known(key: str, name: str, known: set[str], stack_file: Path) -> None:
    namespace, _, short = key.partition(":")
    if namespace != name or short in known:
        return
    hint = did_you_mean(short, known, f"{name}:")
    raise BadInput(f"{stack_file.name}: {key}", f"a key the program reads{hint}", "a key nothing reads")


def load_stack_config(project_dir: Path, stack: str) -> StackConfig:
    project_file = project_dir / "Pulumi.yaml"
    project = read_yaml(project_file)
    name = project.get("name")
    if not isinstance(name, str) or not name:
        raise BadInput(f"{project_file}: name", "a project name", name)
    stack_file = project_dir / f"Pulumi.{stack}.yaml"
    if not stack_file.exists():
        known = ", ".join(list_stacks(project_dir)) or "none"
        raise BadInput("--stack", f"one of the project's stacks ({known})", stack)
    check_stack_file(stack_file)
    values = _declared(project, project_file, name)
    origins = dict.fromkeys(values, project_file.name)
    known_keys = {k.partition(":")[2] for k in values if k.startswith(f"{name}:")} | set(SETTING_KEYS)
    stack_values = read_yaml(stack_file).get("config") or {}
    if not isinstance(stack_values, dict):
        raise BadInput(f"{stack_file}: config", "a mapping of config keys", type(stack_values).__name__)
    secret_keys: list[str] = []
    for key, value in stack_values.items():
        full = key if ":" in key else f"{name}:{key}"
        _check_known(full, name, known_keys, stack_file)
        origins[full] = stack_file.name
        if isinstance(value, dict) and set(value) == {"secure"}:
            values[full] = SECRET_PLACEHOLDER
            secret_keys.append(full)
        else:
            values[full] = _engine_string(value)
    main = project_dir / str(project.get("main") or "__main__.py")
    if main.is_dir():
        main = main / "__main__.py"
    if not main.is_file():
        raise BadInput(f"{project_file}: main", "a Python program file", str(main))
    return StackConfig(name, stack, project_dir, main, values, tuple(secret_keys), origins)
