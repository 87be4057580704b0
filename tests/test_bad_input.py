"""A corpus of bad input, one row per mistake, over every command (issue 12).

Each row runs the real command line in-process and must end with exit 2 and exactly one stderr line
`backupctl: error: ...` holding the expected words, no traceback, and no file written or changed in the
sandbox (outputs, reports, audit logs). Grow the table with every bug found.
"""

from __future__ import annotations

import argparse
import io
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from backupctl.cli import main
from tests.conftest import PROJECT_DIR, Deployment


@dataclass(frozen=True)
class Row:
    id: str
    argv: tuple[str, ...]
    expected: str
    stdin: str | None = None
    env: dict[str, str] = field(default_factory=dict)


def _outputs(staging: Deployment, **changes: object) -> str:
    return json.dumps({**staging.outputs, **changes})


@pytest.fixture
def sandbox(tmp_path: Path, staging: Deployment) -> Path:
    """Files a user might point the commands at, good and bad."""
    files: dict[str, str | bytes] = {
        "outputs.json": _outputs(staging),
        "latin1.json": b'{"environment": "caf\xe9"}',
        "broken.json": '{"environment": "staging",',
        "huge-float.json": '{"environment": "staging", "evidenceLockDays": 1e400}',
        "huge-int.json": '{"environment": "staging", "evidenceLockDays": ' + "9" * 400 + "}",
        "list.json": "[1, 2]",
        "empty.json": "{}",
        "bad-region.json": _outputs(staging, region="mars"),
        "dbs-str.json": _outputs(staging, databases="orchestrator"),
        "dbs-empty-item.json": _outputs(staging, databases=[{}]),
        "keys-list.json": _outputs(staging, keyArns=["arn:aws:kms:eu-west-1:111122223333:key/x"]),
        "no-config-bucket.json": _outputs(staging, configBucket=""),
        "no-paths.json": _outputs(staging, parameterPaths=[]),
        "no-keys.json": _outputs(staging, keyArns={}),
        "prod.json": _outputs(staging, environment="prod"),
    }
    for name, content in files.items():
        path = tmp_path / name
        path.write_bytes(content) if isinstance(content, bytes) else path.write_text(content)
    (tmp_path / "a-dir").mkdir()
    (tmp_path / "not-a-project").mkdir()
    return tmp_path


LIVE = (
    ("verify",),
    ("config", "backup"),
    ("config", "list"),
    ("config", "restore"),
    ("kms", "validate"),
    ("kms", "rotate-now"),
)

ROWS: list[Row] = [
    # ---- the command line itself
    Row("no-command", (), "the following arguments are required: COMMAND"),
    Row("unknown-command", ("restore-everything",), "invalid choice: 'restore-everything'"),
    Row(
        "unknown-option",
        ("verify", "--outputs", "{d}/outputs.json", "--bogus"),
        "unrecognized arguments: --bogus (see `backupctl verify --help`)",
    ),
    Row("int-option-text", ("drill", "--jobs", "two"), "argument --jobs: invalid int value: 'two'"),
    Row("exclusive-options", ("config", "restore", "--at", "2026-11-28", "--key", "k"), "not allowed with"),
    Row(
        "bad-choice", ("drill", "--criticality", "urgent"), "argument --criticality: invalid choice: 'urgent'"
    ),
    # ---- stack outputs (every live command reads them first)
    *(
        Row(
            f"{'-'.join(c)}-outputs-dir",
            (*c, "--outputs", "{d}/a-dir"),
            "--outputs {d}/a-dir: expected a saved",
        )
        for c in LIVE
    ),
    Row("outputs-missing", ("verify", "--outputs", "{d}/nope.json"), "found no such file"),
    Row("outputs-latin1", ("verify", "--outputs", "{d}/latin1.json"), "found bytes that are not UTF-8"),
    Row("outputs-broken-json", ("config", "list", "--outputs", "{d}/broken.json"), "invalid JSON"),
    Row("outputs-1e400", ("verify", "--outputs", "{d}/huge-float.json"), "the number 1e400 is out of range"),
    Row("outputs-400-digits", ("kms", "validate", "--outputs", "{d}/huge-int.json"), "a 400-digit number"),
    Row("outputs-list", ("verify", "--outputs", "{d}/list.json"), "expected a JSON object of stack outputs"),
    Row("outputs-empty", ("verify", "--outputs", "{d}/empty.json"), "a stack without outputs"),
    Row("outputs-stdin-garbage", ("verify", "--outputs", "-"), "stdin: expected JSON", stdin="not json"),
    Row("outputs-stdin-empty", ("config", "backup", "--outputs", "-"), "stdin: expected JSON", stdin=""),
    Row(
        "region-mars",
        ("verify", "--outputs", "{d}/bad-region.json"),
        "output `region`: expected an AWS region",
    ),
    Row("databases-str", ("verify", "--outputs", "{d}/dbs-str.json"), "output `databases`: expected a list"),
    Row("database-no-id", ("verify", "--outputs", "{d}/dbs-empty-item.json"), "databases[0].identifier"),
    Row(
        "key-arns-list", ("kms", "validate", "--outputs", "{d}/keys-list.json"), "output `keyArns`: expected"
    ),
    Row("no-config-bucket", ("config", "backup", "--outputs", "{d}/no-config-bucket.json"), "`configBucket`"),
    Row("no-parameter-paths", ("config", "restore", "--outputs", "{d}/no-paths.json"), "`parameterPaths`"),
    Row("no-key-arns", ("kms", "rotate-now", "--outputs", "{d}/no-keys.json"), "output `keyArns`"),
    Row(
        "stack-mismatch",
        ("verify", "--stack", "prod", "--outputs", "{d}/outputs.json"),
        "output `environment`: expected the stack prod, found staging",
    ),
    Row(
        "region-mismatch",
        ("verify", "--outputs", "{d}/outputs.json", "--region", "us-east-1"),
        "--region: expected the stack's region eu-west-1, found us-east-1",
    ),
    Row(
        "unknown-profile",
        ("config", "list", "--outputs", "{d}/outputs.json", "--profile", "nobody-has-this"),
        "--profile: expected a profile in ~/.aws/config, found nobody-has-this",
    ),
    Row(
        "neither-stack-nor-outputs",
        ("verify",),
        "--stack/--outputs: expected a stack name or an outputs file",
    ),
    Row("stack-without-pulumi", ("kms", "validate", "--stack", "staging"), "no pulumi CLI on PATH"),
    # ---- options checked before any work
    Row(
        "audit-log-dir",
        ("verify", "--outputs", "{d}/outputs.json", "--audit-log", "{d}/a-dir"),
        "--audit-log {d}/a-dir: expected a file path to write, found a directory",
    ),
    Row(
        "audit-log-no-parent",
        ("config", "backup", "--outputs", "{d}/outputs.json", "--audit-log", "{d}/nope/audit.log"),
        "expected a file in an existing directory, found no directory {d}/nope",
    ),
    Row(
        "at-not-a-time",
        ("config", "restore", "--outputs", "{d}/outputs.json", "--at", "yesterday"),
        "--at: expected a date or time like 2026-11-28 or 2026-11-28T06:00Z, found yesterday",
    ),
    Row(
        "at-impossible-date",
        ("config", "restore", "--outputs", "{d}/outputs.json", "--at", "2026-13-45"),
        "found 2026-13-45",
    ),
    Row(
        "kms-unknown-key",
        ("kms", "validate", "--outputs", "{d}/outputs.json", "--key", "payroll"),
        "--key: expected one of backup, config, logs, rds, storage, found payroll",
    ),
    Row(
        "rotate-unknown-key",
        ("kms", "rotate-now", "--outputs", "{d}/outputs.json", "--key", "RDS"),
        "found RDS",
    ),
    # ---- the project and its stacks (preview, check, adopt)
    Row(
        "preview-unknown-stack", ("preview", "--stack", "qa"), "--stack: expected one of the project's stacks"
    ),
    Row(
        "preview-out-dir",
        ("preview", "--stack", "staging", "--out", "{d}/a-dir"),
        "expected a file path to write",
    ),
    Row(
        "preview-out-no-parent",
        ("preview", "--stack", "staging", "--out", "{d}/nope/x.json"),
        "no directory {d}/nope",
    ),
    Row(
        "project-dir-missing",
        ("preview", "--project-dir", "{d}/nope"),
        "--project-dir {d}/nope: expected a directory of a Pulumi project, found no such directory",
    ),
    Row("project-dir-file", ("preview", "--project-dir", "{d}/outputs.json"), "found a file"),
    Row("project-dir-not-a-project", ("check", "--project-dir", "{d}/not-a-project"), "found no Pulumi.yaml"),
    Row(
        "adopt-out-dir",
        ("adopt", "--stack", "staging", "--out", "{d}/a-dir"),
        "--out {d}/a-dir: expected a file",
    ),
]


def _snapshot(directory: Path) -> dict[str, tuple[int, int]]:
    return {
        str(p.relative_to(directory)): (p.stat().st_size, p.stat().st_mtime_ns)
        for p in sorted(directory.rglob("*"))
    }


@pytest.mark.parametrize("row", ROWS, ids=[r.id for r in ROWS])
def test_bad_input_is_exit_2_one_line_no_traceback_nothing_written(
    row: Row,
    sandbox: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(PROJECT_DIR)
    monkeypatch.setenv("PATH", os.defpath)  # no pulumi CLI, whatever the developer has installed
    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(var, "testing")
    for key, value in row.env.items():
        monkeypatch.setenv(key, value)
    if row.stdin is not None:
        monkeypatch.setattr("sys.stdin", io.StringIO(row.stdin))
    before = _snapshot(sandbox)
    argv = [a.replace("{d}", str(sandbox)) for a in row.argv]
    try:
        code = main(argv)
    except SystemExit as exit_:  # argparse's own exit, after printing its one line
        code = int(exit_.code or 0)
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    expected = row.expected.replace("{d}", str(sandbox))
    assert code == 2, err
    assert len(lines) == 1 and lines[0].startswith("backupctl: error: "), lines
    assert expected in lines[0], lines[0]
    assert "Traceback" not in err
    assert _snapshot(sandbox) == before, "a bad input wrote or changed a file"


def _command(argv: list[str] | tuple[str, ...]) -> str:
    words = [a for a in argv[:2] if not a.startswith("-")]
    return " ".join(words[:2]) if words[:1] in (["config"], ["kms"], ["backup"]) else " ".join(words[:1])


def test_the_corpus_covers_every_command_with_sixty_mistakes_at_least() -> None:
    """This table, and the ones beside check's and the drill's tests (same contract, their own fixtures),
    together hold every command's mistakes."""
    from backupctl.cli import _sub_parsers, build_parser
    from tests.test_check_inputs import ROWS as CHECK_ROWS
    from tests.test_drill_inputs import ROWS as DRILL_ROWS

    every = [r.argv for r in ROWS] + [r[2] for r in CHECK_ROWS] + [r[0] for r in DRILL_ROWS]
    commands = {
        p.prog.removeprefix("backupctl ")
        for p in _sub_parsers(build_parser())
        if not any(isinstance(a, argparse._SubParsersAction) for a in p._actions)
    }
    covered = {_command(argv) for argv in every}
    assert sorted(commands - covered) == []
    assert len(every) >= 60, len(every)
