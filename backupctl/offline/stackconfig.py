"""Reads a Pulumi project and one stack's configuration the way the Pulumi engine passes it on.

Project defaults come from ``Pulumi.yaml``'s ``config:`` block, stack values from ``Pulumi.<stack>.yaml``.
Values become what the program sees under the engine: strings, with lists and maps as JSON.
Secure values cannot be decrypted offline and are replaced by a placeholder (and marked secret).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from backupctl.errors import BadInput

SECRET_PLACEHOLDER = "[secret: not decrypted offline]"


@dataclass(frozen=True)
class StackConfig:
    project: str
    stack: str
    project_dir: Path
    main: Path
    values: dict[str, str]
    secret_keys: tuple[str, ...]


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise BadInput(str(path), "an existing file", "no such file") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark is not None else str(path)
        raise BadInput(where, "valid YAML", str(getattr(exc, "problem", exc))) from None
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
    for candidate in (here, *here.parents):
        if (candidate / "Pulumi.yaml").is_file():
            return candidate
    raise BadInput(str(here), "a directory inside a Pulumi project (with Pulumi.yaml)", "none found")


def list_stacks(project_dir: Path) -> list[str]:
    return sorted(p.name[len("Pulumi.") : -len(".yaml")] for p in project_dir.glob("Pulumi.*.yaml"))


def load_stack_config(project_dir: Path, stack: str) -> StackConfig:
    project_file = project_dir / "Pulumi.yaml"
    project = _read_yaml(project_file)
    name = project.get("name")
    if not isinstance(name, str) or not name:
        raise BadInput(f"{project_file}: name", "a project name", name)
    stack_file = project_dir / f"Pulumi.{stack}.yaml"
    if not stack_file.is_file():
        known = ", ".join(list_stacks(project_dir)) or "none"
        raise BadInput("--stack", f"one of the project's stacks ({known})", stack)
    values: dict[str, str] = {}
    declared = project.get("config") or {}
    if not isinstance(declared, dict):
        raise BadInput(f"{project_file}: config", "a mapping of config keys", type(declared).__name__)
    for key, spec in declared.items():
        full = key if ":" in key else f"{name}:{key}"
        if isinstance(spec, dict) and "default" in spec:
            values[full] = _engine_string(spec["default"])
        elif isinstance(spec, dict) and "value" in spec:
            values[full] = _engine_string(spec["value"])
        elif not isinstance(spec, dict):
            values[full] = _engine_string(spec)
    stack_data = _read_yaml(stack_file)
    stack_values = stack_data.get("config") or {}
    if not isinstance(stack_values, dict):
        raise BadInput(f"{stack_file}: config", "a mapping of config keys", type(stack_values).__name__)
    secret_keys: list[str] = []
    for key, value in stack_values.items():
        full = key if ":" in key else f"{name}:{key}"
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
    return StackConfig(
        project=name,
        stack=stack,
        project_dir=project_dir,
        main=main,
        values=values,
        secret_keys=tuple(secret_keys),
    )
