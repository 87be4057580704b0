"""`backupctl check` and `backupctl preview` from start to exit code: every input validated before any
work (formats, output directory, policy config, policy selection, suppressions, the deployment or the
stack files), then the stacks previewed (or read), every policy judged, every report written whole
(runbook 1-4: the gate CI and pre-commit hooks rely on).

Exit codes: 0 clean (or ``--soft-fail``), 1 a mandatory policy failed, 2 bad input or nothing to check.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from backupctl.errors import BadInput
from backupctl.files import check_directory, check_writable, write_atomic, write_json
from backupctl.offline.deployment import Target, deployment_target, environment_of
from backupctl.offline.previews import Preview, PreviewRun, preview_stacks
from backupctl.offline.stackconfig import check_stack_file, find_project_dir, list_stacks

if TYPE_CHECKING:
    from backupctl.offline.check import TargetReport
    from backupctl.offline.policyconfig import PolicyConfig
    from maestro_policies._base import Rule
    from maestro_policies._scope import FileSuppression

FORMATS = ("cli", "json", "sarif", "junitxml")
FILE_NAMES = {
    "cli": "results_cli.txt",
    "json": "results_json.json",
    "sarif": "results_sarif.sarif",
    "junitxml": "results_junitxml.xml",
}


@dataclass(frozen=True)
class CheckRequest:
    """What the command line asked of `backupctl check`."""

    project_dir: str | None = None
    stacks: Sequence[str] = ()  # --stack, repeatable; none: every stack of the project
    deployment: str | None = None
    environment: str | None = None
    policy_config: str | None = None
    outputs: Sequence[str] = ()
    output_dir: str | None = None
    checks: Sequence[str] = ()
    skips: Sequence[str] = ()
    suppressions: str | None = None
    soft_fail: bool = False
    quiet: bool = False
    compact: bool = False
    verbose: bool = False
    use_cache: bool = True
    list_policies: bool = False
    as_json: bool = False


def emit(text: str) -> None:
    """Print ``text`` in page-sized pieces: one large write into a pipe whose reader has gone away can
    end in a partial write that Python does not report, so `check --json | head` would not end as a
    closed pipe (141); a later piece fails with BrokenPipeError, which the CLI turns into that exit."""
    for start in range(0, len(text), 4096):
        sys.stdout.write(text[start : start + 4096])


def parse_formats(values: Sequence[str]) -> list[str]:
    """``--output cli,json --output sarif`` as an ordered list without repeats (default: cli)."""
    formats: list[str] = []
    for value in values:
        for item in (v.strip() for v in value.split(",")):
            if item not in FORMATS:
                raise BadInput(
                    f"--output {value}", f"formats among {', '.join(FORMATS)}", item or "an empty one"
                )
            if item not in formats:
                formats.append(item)
    return formats or ["cli"]


def project_root(project_dir: str | None) -> Path:
    return find_project_dir(Path(project_dir)) if project_dir else find_project_dir()


def stacks_of(root: Path, asked: Sequence[str]) -> list[str]:
    """The stacks asked for (each once, in the order given), or every stack; none at all is bad input
    ("nothing to check"), never a green check."""
    stacks = list_stacks(root)
    if not asked and not stacks:
        raise BadInput(f"{root}", "at least one stack file Pulumi.<stack>.yaml", "none (nothing to check)")
    for stack in asked:
        if stack not in stacks:
            raise BadInput("--stack", f"one of the project's stacks ({', '.join(stacks) or 'none'})", stack)
    chosen = list(dict.fromkeys(asked)) or stacks
    for name in chosen:
        check_stack_file(root / f"Pulumi.{name}.yaml")
    return chosen


def _shown_path(path: Path) -> str:
    relative = os.path.relpath(path)
    return Path(relative).as_posix() if not relative.startswith("..") else path.as_posix()


def _stack_target(preview: Preview) -> Target:
    config, deployment = preview.config, preview.deployment
    file = _shown_path(config.project_dir / f"Pulumi.{config.stack}.yaml")
    return Target("stack", config.stack, file, environment_of(deployment), deployment)


@dataclass(frozen=True)
class Policies:
    config: PolicyConfig
    rules: list[Rule]
    suppressions: list[FileSuppression]


def _policies(request: CheckRequest) -> Policies:
    """The policy config, the chosen policies and the suppressions, validated. Imports pulumi-policy and
    the pack, so it runs while the preview workers do their part."""
    from backupctl.offline.policyconfig import load_policy_config, select_rules  # noqa: PLC0415
    from backupctl.offline.suppressions import load_suppressions  # noqa: PLC0415

    return Policies(
        load_policy_config(request.policy_config),
        select_rules(request.checks, request.skips),
        load_suppressions(request.suppressions),
    )


def _targets(request: CheckRequest) -> tuple[list[Target], Path | None, Policies]:
    """What to check, and the validated policy inputs: every input is refused before a report is written
    or the cache touched; a refusal while workers preview stops them."""
    if request.deployment:
        policies = _policies(request)
        return [deployment_target(request.deployment, request.environment)], None, policies
    root = project_root(request.project_dir)
    stacks = stacks_of(root, request.stacks)
    with PreviewRun(root, stacks, use_cache=request.use_cache, verbose=request.verbose) as run:
        policies = _policies(request)
        previews = run.results()
    return [_stack_target(p) for p in previews], root, policies


def _validate(request: CheckRequest) -> tuple[list[str], Path | None]:
    formats = parse_formats(request.outputs)
    if len(formats) > 1 and not request.output_dir:
        raise BadInput(
            "--output " + ",".join(formats), "one format, or --output-file-path DIR for several", "several"
        )
    if request.environment and not request.deployment:
        raise BadInput(
            f"--environment {request.environment}",
            "--deployment (a stack's environment comes from the stack)",
            "a stack",
        )
    out_dir = _output_dir(request.output_dir) if request.output_dir else None
    if out_dir is not None and out_dir.is_dir():
        for name in formats:
            check_writable(out_dir / FILE_NAMES[name], "--output-file-path")
    return formats, out_dir


def _output_dir(path: str) -> Path:
    """An existing writable directory, or one that can be created: created only when the reports are
    written, so a refusal later on leaves nothing behind."""
    directory = Path(path)
    if directory.exists():
        return check_directory(directory, "--output-file-path", create=False)
    ancestor = next((p for p in directory.parents if p.exists()), Path("."))
    if not ancestor.is_dir() or not os.access(ancestor, os.W_OK | os.X_OK):
        found = f"{ancestor} is not a writable directory"
        raise BadInput(f"--output-file-path {path}", "a directory that can be created", found)
    return directory


def _render(name: str, reports: list[TargetReport], request: CheckRequest, context: dict[str, Any]) -> str:
    from backupctl.offline.outputs import render_json, render_junit, render_sarif, render_table  # noqa: PLC0415

    if name == "cli":
        return "\n".join(
            render_table(r, verbose=request.verbose, quiet=request.quiet, compact=request.compact)
            for r in reports
        )
    if name == "json":
        return render_json(reports, policy_config=request.policy_config, code=context["code"])
    if name == "sarif":
        return render_sarif(reports, context["rules"], context["levels"], context["uri"])
    return render_junit(reports)


def _listing(request: CheckRequest) -> int:
    """``--list-policies``: nothing is previewed or checked, so options about a check are refused."""
    used = [
        option
        for option, value in (
            ("--stack", request.stacks),
            ("--deployment", request.deployment),
            ("--policy-config", request.policy_config),
            ("--output-file-path", request.output_dir),
            ("--suppressions", request.suppressions),
            ("--check", request.checks),
            ("--skip-check", request.skips),
        )
        if value
    ]
    if used:
        raise BadInput(f"--list-policies with {used[0]}", "--list-policies alone (or with --json)", used[0])
    emit(list_policies(request.as_json or "json" in request.outputs))
    return 0


def check(request: CheckRequest) -> int:
    if request.list_policies:
        return _listing(request)
    formats, out_dir = _validate(request)
    targets, root, policies = _targets(request)
    from backupctl.offline.check import evaluate, exit_code  # noqa: PLC0415
    from backupctl.offline.outputs import information_uri  # noqa: PLC0415

    config, rules = policies.config, policies.rules
    reports = [evaluate(t, config=config, rules=rules, suppressions=policies.suppressions) for t in targets]
    code = exit_code(reports, soft_fail=request.soft_fail)
    context = {
        "code": code,
        "rules": rules,
        "levels": {rule.name: config.level(rule) for rule in rules},
        "uri": information_uri(root),
    }
    for name in formats:
        text = _render(name, reports, request, context)
        if out_dir is None or name == "cli":
            emit(text)
        if out_dir is not None:
            out_dir.mkdir(parents=True, exist_ok=True)
            written = write_atomic(out_dir / FILE_NAMES[name], text, "--output-file-path")
            print(f"wrote {written}", file=sys.stderr)
    return code


def list_policies(as_json: bool) -> str:
    """Every policy with its level, section, controls, scope and config keys (defaults and floors)."""
    from maestro_policies import RULES  # noqa: PLC0415

    rows = [
        {
            "name": rule.name,
            "level": rule.level,
            "section": rule.section,
            "controls": list(rule.controls),
            "prodOnly": rule.prod_only,
            "suppressible": rule.suppressible,
            "severity": rule.severity,
            "description": rule.text,
            "config": {
                key: {
                    k: schema[k]
                    for k in ("type", "default", "minimum", "maximum", "description")
                    if k in schema
                }
                for key, schema in rule.config.items()
            },
        }
        for rule in RULES
    ]
    if as_json:
        return json.dumps({"schema": "maestro-backup/policies@1", "policies": rows}, indent=2) + "\n"
    lines = [
        "| Policy | Runbook | Level | Controls | Config keys (default; floor/ceiling) |",
        "|---|---|---|---|---|",
    ]
    for row in rows:
        keys = "<br>".join(
            f"`{k}` {json.dumps(v.get('default'))}"
            + "".join(f"; {w} {v[b]}" for w, b in ((">=", "minimum"), ("<=", "maximum")) if b in v)
            for k, v in row["config"].items()
        )
        scope = " (prod only)" if row["prodOnly"] else ""
        pinned = ", not suppressible in prod" if not row["suppressible"] else ""
        lines.append(
            f"| `{row['name']}`: {row['description']}{scope} | {row['section']} | {row['level']}{pinned} | "
            f"{', '.join(row['controls']) or '-'} | {keys or '-'} |"
        )
    return "\n".join(lines) + "\n"


def preview(request: CheckRequest, out: str | None) -> int:
    """`backupctl preview`: every stack under mocks, its summary printed, its deployment written to --out."""
    from backupctl.offline.preview import summarize  # noqa: PLC0415

    root = project_root(request.project_dir)
    stacks = stacks_of(root, request.stacks)
    outs = (
        {s: out if len(stacks) == 1 else str(Path(out).with_suffix("")) + f".{s}.json" for s in stacks}
        if out
        else {}
    )
    for path in outs.values():
        check_writable(path, "--out")
    results = {}
    for item in preview_stacks(root, stacks, use_cache=request.use_cache, verbose=request.verbose):
        if item.config.stack in outs:
            write_json(outs[item.config.stack], item.deployment, "--out")
            print(f"wrote {outs[item.config.stack]}", file=sys.stderr)
        results[item.config.stack] = summarize(item.deployment)
    if request.as_json:
        emit(json.dumps(results, indent=2) + "\n")
    else:
        emit("".join(_summary_text(stack, summary) for stack, summary in results.items()))
    return 0


def _summary_text(stack: str, summary: dict[str, Any]) -> str:
    rows = "".join(f"  {component:<40} {count:>4}\n" for component, count in summary["byComponent"].items())
    return (
        f"Stack {stack}: {summary['resources']} resources in {summary['components']} components "
        f"({summary['environment']}, {summary['region']})\n{rows}"
        f"  databases:     {'; '.join(summary['databases'])}\n"
        f"  backup vault:  {summary['vault']}\n"
        f"  evidence lock: {summary['evidenceLock']}\n"
        f"  buckets:       {', '.join(str(b) for b in summary['buckets'])}\n"
    )
