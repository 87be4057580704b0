"""How `preview` and `check` run (issues 11, 12): the preview cache (hit, miss on any change of program,
stack files or installed packages, --no-cache, shown with -v), and Ctrl-C / SIGTERM while the stacks are
being previewed: exit 130/143 within seconds, one line, no asyncio noise, no worker left running, no
file left behind."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from backupctl.cli import main
from backupctl.offline import previews
from backupctl.offline.stackconfig import load_stack_config
from tests.conftest import PROJECT_DIR

CACHE = Path(".cache") / "backupctl" / "previews"


def verbose_preview(capsys: pytest.CaptureFixture[str], project: Path, *extra: str) -> str:
    assert main(["--project-dir", str(project), "preview", "--stack", "staging", "-v", *extra]) == 0
    return capsys.readouterr().err


def test_the_second_preview_comes_from_the_cache_and_any_change_misses_it(
    project_copy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert "stack staging: cache miss" in verbose_preview(capsys, project_copy)
    [entry] = (project_copy / CACHE).glob("staging-*.json")
    assert f"stack staging: cache hit {entry}" in verbose_preview(capsys, project_copy)
    with (project_copy / "__main__.py").open("a") as program:
        program.write("# an edit of the program\n")
    assert "cache miss" in verbose_preview(capsys, project_copy)
    stack = project_copy / "Pulumi.staging.yaml"
    stack.write_text(stack.read_text().replace("cost-center: platform", "cost-center: data"))
    assert "cache miss" in verbose_preview(capsys, project_copy)
    assert "cache hit" in verbose_preview(capsys, project_copy)
    assert len(list((project_copy / CACHE).glob("staging-*.json"))) == 1, "stale entries are dropped"


def test_no_cache_neither_reads_nor_writes(project_copy: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert "cache off (--no-cache)" in verbose_preview(capsys, project_copy, "--no-cache")
    assert not (project_copy / ".cache").exists()


def test_the_cache_key_follows_the_installed_packages(
    project_copy: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = load_stack_config(project_copy, "staging")
    before = previews.cache_key(config)
    assert previews.cache_key(config) == before
    installed = previews._installed()
    monkeypatch.setattr(previews, "_installed", lambda: [*installed, "pulumi_aws-7.52.0.dist-info"])
    assert previews.cache_key(config) != before


def test_a_cached_preview_is_the_same_deployment(
    project_copy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    first, second = project_copy / "a.json", project_copy / "b.json"
    assert main(["--project-dir", str(project_copy), "preview", "--stack", "prod", "--out", str(first)]) == 0
    assert main(["--project-dir", str(project_copy), "preview", "--stack", "prod", "--out", str(second)]) == 0
    err = capsys.readouterr().err
    assert "cache hit" not in err and "cache miss" not in err, "without -v the cache is silent"
    assert first.read_text() == second.read_text()


# --- signals -----------------------------------------------------------------------------------------


def _as_from_a_terminal() -> None:
    """Popen's child keeps its parent's signal dispositions, and pytest-xdist workers ignore SIGINT; a
    process started with SIGINT ignored keeps ignoring it (as `cmd &` in a script does). Give the command
    the disposition a terminal gives it."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(p) for p in text.split()]


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


COMMANDS = {
    "check": ["check", "--no-cache", "-o", "cli,json,sarif", "--output-file-path", "{out}"],
    "preview": ["preview", "--no-cache", "--out", "{out}/deployment.json"],
}


def _long_preview(project: Path) -> None:
    """Give staging 150 databases, so its preview lasts seconds even on a fast machine: the signal must
    arrive while the workers run, however late a busy machine lets this test look."""
    stack = project / "Pulumi.staging.yaml"
    data = yaml.safe_load(stack.read_text())
    data["config"]["maestro-backup:databases"] = [
        {"name": f"db{i:03d}", "criticality": "standard"} for i in range(150)
    ]
    stack.write_text(yaml.safe_dump(data))


@pytest.mark.parametrize("command", sorted(COMMANDS))
@pytest.mark.parametrize(("signum", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_a_signal_while_previewing_stops_everything_at_once(
    tmp_path: Path, project_copy: Path, command: str, signum: int, code: int
) -> None:
    _long_preview(project_copy)
    out = tmp_path / "out"
    out.mkdir()
    argv = [a.replace("{out}", str(out)) for a in COMMANDS[command]]
    proc = subprocess.Popen(
        [sys.executable, "-m", "backupctl", "--project-dir", str(project_copy), *argv],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=tmp_path,
        preexec_fn=_as_from_a_terminal,  # noqa: PLW1509 - one call, no threads started yet
    )
    deadline = time.monotonic() + 60
    workers: list[int] = []
    while not workers and proc.poll() is None and time.monotonic() < deadline:
        workers = _children(proc.pid)
        time.sleep(0.01)
    assert workers, "the previews never started in workers"
    assert all(_alive(pid) for pid in workers), "the workers must still be previewing"
    sent = time.monotonic()
    proc.send_signal(signum)
    stdout, stderr = proc.communicate(timeout=30)
    took = time.monotonic() - sent
    assert proc.returncode == code
    assert took < 5, f"took {took:.1f} s to stop"
    assert stderr.decode().splitlines() == [f"backupctl: interrupted ({signal.Signals(signum).name})"]
    assert stdout == b""
    assert not [pid for pid in workers if _alive(pid)], "a preview worker outlived the command"
    assert list(out.iterdir()) == [], "nothing may be left behind"
    assert not (project_copy / ".cache").exists()


def _importing(pid: int) -> bool:
    """The interpreter is up and loading the heavy modules (grpc's extension is mapped), no worker yet."""
    try:
        maps = Path(f"/proc/{pid}/maps").read_text()
    except OSError:
        return False
    return "cygrpc" in maps and not _children(pid)


def test_a_signal_before_the_workers_start_is_just_as_clean(tmp_path: Path, project_copy: Path) -> None:
    _long_preview(project_copy)
    proc = subprocess.Popen(
        [sys.executable, "-m", "backupctl", "--project-dir", str(project_copy), "check", "--no-cache"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        preexec_fn=_as_from_a_terminal,  # noqa: PLW1509 - one call, no threads started yet
    )
    deadline = time.monotonic() + 60
    while not _importing(proc.pid) and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)
    proc.send_signal(signal.SIGINT)  # while importing (or, on a slow machine, just as the workers start)
    _, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 130
    assert stderr.decode().splitlines() == ["backupctl: interrupted (SIGINT)"]


@pytest.fixture(autouse=True)
def _no_stray_cache() -> Iterator[None]:
    """Every test here uses a project copy; none may write into the real project's cache."""
    before = (PROJECT_DIR / ".cache").exists()
    yield
    if not before and (PROJECT_DIR / ".cache").exists():
        shutil.rmtree(PROJECT_DIR / ".cache")
        pytest.fail("a test wrote into the project's own .cache/")


def test_workers_are_reaped_when_one_preview_fails(
    project_copy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    stack = project_copy / "Pulumi.prod.yaml"
    stack.write_text(stack.read_text().replace("backupRetentionDays: 14", "backupRetentionDays: 3"))
    before = set(_children(os.getpid()))
    assert main(["--project-dir", str(project_copy), "check", "--no-cache"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "maestro-backup:backupRetentionDays: expected an integer >= 7" in err[0]
    assert set(_children(os.getpid())) <= before
