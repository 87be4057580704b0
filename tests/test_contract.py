"""The command-line contract every command holds (issue 12): one-line errors with exit 2, exit 3 (not 1)
for a bug, 130/143 for signals, a quiet end on a closed pipe, and outputs that are whole or absent."""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import signal
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from botocore.exceptions import ClientError, NoCredentialsError

from backupctl import cli, files
from backupctl.errors import BadInput
from tests.conftest import PROJECT_DIR, Deployment

FIXTURE = PROJECT_DIR / "tests" / "fixtures" / "stack-export-prod.json"
F_SETPIPE_SZ = 1031  # Linux fcntl: set a pipe's capacity


def test_write_atomic_replaces_the_whole_file(tmp_path: Path) -> None:
    target = tmp_path / "out.json"
    target.write_text("old")
    files.write_atomic(target, "new content")
    assert target.read_text() == "new content"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.json"]


def test_a_symlinked_output_keeps_its_link_and_a_replaced_file_its_mode(tmp_path: Path) -> None:
    real, link = tmp_path / "real.json", tmp_path / "link.json"
    real.write_text("old")
    real.chmod(0o640)
    link.symlink_to(real.name)
    files.write_atomic(link, "new")
    assert link.is_symlink() and real.read_text() == "new"
    assert stat.S_IMODE(real.stat().st_mode) == 0o640
    old_mask = os.umask(0o027)
    try:
        files.write_atomic(tmp_path / "fresh.json", "x")
    finally:
        os.umask(old_mask)
    assert stat.S_IMODE((tmp_path / "fresh.json").stat().st_mode) == 0o640  # 0o666 under umask 027


def test_a_fifo_is_written_through_not_replaced(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    reader = subprocess.Popen(["cat", str(fifo)], stdout=subprocess.PIPE)
    files.write_atomic(fifo, "through the pipe")
    out, _ = reader.communicate(timeout=30)
    assert out == b"through the pipe"
    assert stat.S_ISFIFO(fifo.stat().st_mode)


@pytest.mark.skipif(os.geteuid() != 0, reason="making a device node needs root")
def test_a_full_device_is_one_line_and_stays_a_device(tmp_path: Path) -> None:
    full = tmp_path / "full"  # a node of its own like /dev/full (1, 7): a wrong write must not break /dev
    os.mknod(full, stat.S_IFCHR | 0o666, os.makedev(1, 7))
    with pytest.raises(BadInput, match=rf"--out {full}: expected a writable file path, found No space"):
        files.write_atomic(full, "x", "--out")
    assert stat.S_ISCHR(full.stat().st_mode)


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs Linux /dev/full")
@pytest.mark.parametrize("args", [["check"], ["check", "--json"], ["preview", "--stack", "staging"]])
def test_standard_output_on_a_full_disk_is_one_line_and_exit_2(args: list[str]) -> None:
    with open("/dev/full", "w") as full:
        done = subprocess.run(
            [sys.executable, "-m", "backupctl", "--project-dir", str(PROJECT_DIR), *args],
            stdout=full,
            stderr=subprocess.PIPE,
            text=True,
            check=False,
            timeout=300,
        )
    assert done.returncode == 2, done.stderr
    assert done.stderr.splitlines() == [
        "backupctl: error: standard output: expected room to write the output, found No space left on device"
    ]


def test_a_failed_write_leaves_the_old_file_and_no_partial_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "report.json"
    target.write_text("the previous report")

    def full_disk(*_: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", full_disk)
    with pytest.raises(BadInput, match="No space left on device"):
        files.write_atomic(target, "x" * 10_000, "--out")
    assert target.read_text() == "the previous report"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.json"]


@pytest.mark.parametrize(
    ("make", "found"),
    [
        (lambda d: d, "found a directory"),
        (lambda d: d / "missing.json", "found no such file"),
        (lambda d: (d / "latin1.json").write_bytes(b'{"k": "caf\xe9"}') and d / "latin1.json", "not UTF-8"),
    ],
)
def test_reading_a_bad_path_is_one_clear_line(tmp_path: Path, make: object, found: str) -> None:
    path = make(tmp_path)  # type: ignore[operator]
    with pytest.raises(BadInput, match=found) as error:
        files.read_json(path, "--policy-config")
    assert str(error.value).startswith(f"--policy-config {path}: expected")
    assert "\n" not in str(error.value)


@pytest.mark.parametrize(
    "text", ["1e400", "-1e400", "NaN", "[Infinity]", "1" * 400, '{"a": ' + "9" * 31 + "}"]
)
def test_json_numbers_that_cannot_be_held_are_refused(text: str) -> None:
    with pytest.raises(BadInput, match="invalid JSON"):
        files.parse_json(text, "deployment.json", "a stack export")


def test_check_writable_refuses_before_any_work(tmp_path: Path) -> None:
    with pytest.raises(BadInput, match="found a directory"):
        files.check_writable(tmp_path, "--out")
    with pytest.raises(BadInput, match="no directory"):
        files.check_writable(tmp_path / "nope" / "x.json", "--out")
    with pytest.raises(BadInput, match="expected a directory, found a file"):
        files.check_directory(FIXTURE, "--report-dir")


def test_a_bug_exits_3_with_one_line_not_1(capsys: pytest.CaptureFixture[str]) -> None:
    def broken(_: argparse.Namespace) -> int:
        raise RuntimeError("boom")

    code = cli.run(argparse.Namespace(handler=broken))
    err = capsys.readouterr().err
    assert code == cli.EXIT_INTERNAL == 3
    assert err.strip().splitlines() == [
        "backupctl: error: internal error: RuntimeError: boom "
        "(a bug; set BACKUPCTL_DEBUG=1 for the traceback)"
    ]


@pytest.mark.parametrize(
    ("error", "line"),
    [
        (
            NoCredentialsError(),
            "AWS credentials: expected a profile, environment variables or a role, found none",
        ),
        (
            ClientError({"Error": {"Code": "AccessDenied", "Message": "no"}}, "GetObject"),
            "AWS: An error occurred (AccessDenied) when calling the GetObject operation: no",
        ),
    ],
)
def test_an_aws_failure_is_one_line_and_exit_2(
    capsys: pytest.CaptureFixture[str], error: Exception, line: str
) -> None:
    def failing(_: argparse.Namespace) -> int:
        raise error

    assert cli.run(argparse.Namespace(handler=failing)) == 2
    assert capsys.readouterr().err.strip().splitlines() == [f"backupctl: error: {line}"]


def test_the_offline_commands_start_without_boto() -> None:
    probe = "import sys, backupctl.cli; print(sorted(m for m in sys.modules if m.startswith('boto')))"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]", "boto costs a tenth of a second at every `backupctl check`"


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGTERM, 143), (signal.SIGHUP, 129)])
def test_sigterm_and_sighup_unwind_cleanup_and_exit_128_plus_the_signal(
    signum: int, code: int, capsys: pytest.CaptureFixture[str]
) -> None:
    cleaned: list[bool] = []

    def long_running(_: argparse.Namespace) -> int:
        try:
            os.kill(os.getpid(), signum)
            return 0
        finally:
            cleaned.append(True)

    assert cli.run(argparse.Namespace(handler=long_running)) == code
    assert cleaned == [True]
    assert capsys.readouterr().err.strip() == f"backupctl: interrupted ({signal.Signals(signum).name})"
    assert signal.getsignal(signum) is not cli._raise_interrupted, "the handler is restored afterwards"


def test_project_dir_is_accepted_after_any_sub_command(tmp_path: Path) -> None:
    args = cli.build_parser().parse_args(
        ["check", "--deployment", str(FIXTURE), "--project-dir", str(tmp_path)]
    )
    assert args.project_dir == str(tmp_path)
    args = cli.build_parser().parse_args(["--project-dir", str(tmp_path), "config", "list", "--outputs", "x"])
    assert args.project_dir == str(tmp_path)
    args = cli.build_parser().parse_args(["config", "--project-dir", str(tmp_path), "list", "--outputs", "x"])
    assert args.project_dir == str(tmp_path)  # between a group and its command too


def test_a_closed_pipe_ends_quietly(deployments: dict[str, Deployment], tmp_path: Path) -> None:
    export = tmp_path / "prod.json"
    export.write_text(json.dumps(deployments["prod"].raw))  # its JSON report is far larger than the pipe
    read_end, write_end = os.pipe()
    fcntl.fcntl(read_end, F_SETPIPE_SZ, 4096)  # smaller than the output, so the writer must wait for us
    command = [sys.executable, "-m", "backupctl", "check", "--deployment", str(export), "--json"]
    with subprocess.Popen(command, stdout=write_end, stderr=subprocess.PIPE, cwd=PROJECT_DIR) as proc:
        os.close(write_end)
        with os.fdopen(read_end, "rb", buffering=0) as reader:
            first = reader.readline()  # then close it, as `| head -1` does
        assert proc.stderr is not None
        err = proc.stderr.read().decode()
        code = proc.wait(timeout=120)
    assert first.strip() == b"{"  # the JSON document had started when the reader went away
    assert "Traceback" not in err and "BrokenPipe" not in err and "error" not in err, err
    assert code == cli.EXIT_PIPE


LIVE_COMMANDS = [
    ["verify"],
    ["kms", "validate"],
    ["kms", "rotate-now"],
    ["config", "list"],
    ["config", "backup"],
]


@pytest.mark.parametrize("command", LIVE_COMMANDS)
def test_a_live_command_without_credentials_says_so_once_and_prints_no_findings(
    command: list[str], staging: Deployment, tmp_path: Path
) -> None:
    outputs, audit_log = tmp_path / "outputs.json", tmp_path / "audit.jsonl"
    outputs.write_text(json.dumps(staging.outputs))
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env |= {
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none"),
        "AWS_CONFIG_FILE": str(tmp_path / "none"),
        "AWS_EC2_METADATA_DISABLED": "true",
    }
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "backupctl",
            *command,
            "--outputs",
            str(outputs),
            "--json",
            "--audit-log",
            audit_log,
        ],
        capture_output=True,
        text=True,
        env=env,
        check=False,
        timeout=120,
    )
    assert (done.returncode, done.stdout) == (2, ""), done.stdout
    assert done.stderr.splitlines()[-1] == (
        "backupctl: error: AWS credentials: expected a profile, environment variables or a role, found none"
    )
    [record] = [json.loads(line) for line in audit_log.read_text().splitlines()]
    assert (record["result"], record["reason"]) == ("error", "AWS NoCredentialsError")
