"""The shape of the code (issue 14): packages that show the architecture, no import cycles, no module
importing its caller, functions that fit on a screen, and a Lambda package that is exactly what the
handlers import."""

from __future__ import annotations

import ast
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import backupctl

ROOT = Path(__file__).resolve().parent.parent
MAX_FUNCTION_LINES = 80
MAX_MODULES_PER_PACKAGE = 10


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    """Every backupctl module ``path`` imports, at module level or inside a function."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("backupctl")}
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("backupctl"):
            for alias in node.names:
                candidate = f"{node.module}.{alias.name}"
                module_file = ROOT / Path(*candidate.split("."))
                found.add(
                    candidate
                    if module_file.with_suffix(".py").exists() or module_file.is_dir()
                    else node.module
                )
    return found


def _graph() -> dict[str, set[str]]:
    files = sorted((ROOT / "backupctl").rglob("*.py"))
    return {_module_name(p): _imports(p) - {_module_name(p)} for p in files}


def test_backupctl_has_no_import_cycles() -> None:
    graph = _graph()
    # A package imports its __init__ implicitly; only explicit edges count.
    visiting: list[str] = []
    done: set[str] = set()
    cycles: list[list[str]] = []

    def visit(node: str) -> None:
        if node in done:
            return
        if node in visiting:
            cycles.append([*visiting[visiting.index(node) :], node])
            return
        visiting.append(node)
        for nxt in sorted(graph.get(node, ())):
            visit(nxt)
        visiting.pop()
        done.add(node)

    for node in sorted(graph):
        visit(node)
    assert cycles == [], f"import cycles: {cycles}"


def test_no_command_module_imports_the_entry_point_that_calls_it() -> None:
    graph = _graph()
    callers = {m: deps for m, deps in graph.items() if m.startswith("backupctl.cli.")}
    assert callers, "no command modules found"
    offenders = {m for m, deps in callers.items() if "backupctl.cli" in deps}
    assert offenders == set(), f"command modules importing backupctl.cli: {offenders}"
    entry_points = ("backupctl.cli", "backupctl.__main__")
    lower = {m: deps for m, deps in graph.items() if not m.startswith(entry_points)}
    upward = {m: sorted(d for d in deps if d.startswith("backupctl.cli")) for m, deps in lower.items()}
    assert {m: d for m, d in upward.items() if d} == {}, "a lower module imports the command line"


@pytest.mark.parametrize(
    "package", ["backupctl", "backupctl/cli", "backupctl/offline", "backupctl/live", "backupctl/drill"]
)
def test_packages_hold_about_ten_modules_at_most(package: str) -> None:
    modules = [p for p in (ROOT / package).glob("*.py") if p.name != "__init__.py"]
    assert len(modules) <= MAX_MODULES_PER_PACKAGE, f"{package}: {sorted(p.name for p in modules)}"


@pytest.mark.parametrize("tree", ["backupctl", "components"])
def test_functions_fit_on_a_screen(tree: str) -> None:
    long = []
    for path in sorted((ROOT / tree).rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                lines = (node.end_lineno or node.lineno) - node.lineno + 1
                if lines > MAX_FUNCTION_LINES:
                    long.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.name} ({lines} lines)")
    assert long == []


def test_every_module_opens_with_what_it_is_for() -> None:
    missing = [
        str(p.relative_to(ROOT))
        for tree in ("backupctl", "components")
        for p in sorted((ROOT / tree).rglob("*.py"))
        if p.stat().st_size and not ast.get_docstring(ast.parse(p.read_text()))
    ]
    assert missing == []


def test_the_lambda_package_is_exactly_what_the_handlers_import(tmp_path: Path) -> None:
    """Only LAMBDA_PACKAGE is copied; the handlers import from it alone (no site hooks, so an editable
    install cannot fill a gap) and use every file in it; the Lambda runtime itself brings boto3."""
    for name in backupctl.LAMBDA_PACKAGE:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / name, tmp_path / name)
    import boto3

    site = str(Path(boto3.__file__).resolve().parent.parent)
    probe = (
        "import sys, json; "
        f"sys.path[:0] = [{str(tmp_path)!r}, {site!r}]; "
        "import backupctl.handlers; "
        "print(json.dumps({'mine': sorted(m.__file__ for n, m in sys.modules.items() "
        "if n.startswith('backupctl')), "
        "'foreign': sorted(n for n in ('moto', 'pulumi', 'yaml', 'components', 'pulumi_aws') "
        "if n in sys.modules)}))"
    )
    done = subprocess.run([sys.executable, "-S", "-c", probe], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout)
    assert seen["foreign"] == []
    shipped = sorted(str(tmp_path / name) for name in backupctl.LAMBDA_PACKAGE)
    assert seen["mine"] == shipped, "LAMBDA_PACKAGE and the handlers' imports differ"


def test_the_function_archive_lists_the_package_files_and_nothing_else(stack: object) -> None:
    from tests.conftest import Deployment

    assert isinstance(stack, Deployment)
    for function in stack.of_type("aws:lambda/function:Function"):
        assets = function["inputs"]["code"]["assets"]
        assert sorted(assets) == sorted(backupctl.LAMBDA_PACKAGE), function["urn"]
        assert all("__pycache__" not in a["path"] for a in assets.values())
