"""Wall time of `backupctl check` against checkov on the same infrastructure (issue 11), each command a
fresh process, rounds alternating between the commands so that a busy machine slows them alike; medians.

Prints, for both stacks: `backupctl check --no-cache` (cold), `backupctl check` with a warm preview cache,
checkov over both stacks written as Terraform (bench/terraform: staging as written, prod derived from it)
and over staging alone (27 resources, the yardstick issue 11 quotes), and the cold ratio to checkov
(target <= 0.5). Then cold checks of one stack with 1, 50 and 200 databases and the cost per database
between 1 and 50 and between 50 and 200 (equal = linear; target: 200 databases under 10 s).

checkov is installed at the version pinned in pyproject.toml ([tool.maestro.bench]) into its own venv
under .venv/bench/, so its dependencies never touch the project's; without it the checkov rows are skipped
with the reason. Usage: python bench/check_speed.py [--rounds N]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import tomllib
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from preview_scale import _project_with

ROOT = Path(__file__).resolve().parent.parent
BACKUPCTL = [sys.executable, "-m", "backupctl"]
TERRAFORM = ROOT / "bench" / "terraform" / "staging" / "main.tf"


def checkov() -> tuple[list[str] | None, str]:
    """The pinned checkov's command, installing it on first use; (None, why) when it cannot be had."""
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["maestro"]["bench"]["checkov"]
    venv = ROOT / ".venv" / "bench" / f"checkov-{version}"
    binary = venv / "bin" / "checkov"
    if not binary.exists():
        print(f"installing checkov {version} into {venv} ...", file=sys.stderr)
        try:
            subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, capture_output=True)
            subprocess.run(
                [str(venv / "bin" / "pip"), "install", "--quiet", f"checkov=={version}"],
                check=True,
                capture_output=True,
                timeout=900,
            )
        except (subprocess.SubprocessError, OSError) as exc:
            shutil.rmtree(venv, ignore_errors=True)
            return None, f"checkov {version} could not be installed ({type(exc).__name__})"
    return [str(binary), "--quiet", "--compact", "--skip-download", "-d"], f"checkov {version}"


def terraform(where: Path) -> tuple[Path, Path]:
    """bench/terraform's staging, and prod derived from it: (both stacks, staging only)."""
    text = TERRAFORM.read_text()
    (where / "both" / "staging").mkdir(parents=True)
    (where / "both" / "prod").mkdir()
    (where / "both" / "staging" / "main.tf").write_text(text)
    prod = (
        text.replace("staging", "prod")
        .replace("111122223333", "444455556666")
        .replace("GOVERNANCE", "COMPLIANCE")
    )
    (where / "both" / "prod" / "main.tf").write_text(prod)
    return where / "both", where / "both" / "staging"


def project_copy(where: Path) -> Path:
    where.mkdir()
    for name in ("Pulumi.yaml", "Pulumi.staging.yaml", "Pulumi.prod.yaml", "__main__.py"):
        shutil.copy(ROOT / name, where / name)
    return where


def timed(command: list[str]) -> float:
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, check=False)
    elapsed = time.perf_counter() - start
    if done.returncode not in (0, 1):  # checkov exits 1 on its findings
        raise SystemExit(f"{' '.join(command)} failed ({done.returncode}): {done.stderr.decode()[-500:]}")
    return elapsed


def alternate(commands: dict[str, list[str]], rounds: int) -> dict[str, list[float]]:
    for command in commands.values():
        timed(command)  # warm the page cache and the .pyc files once
    times: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(rounds):
        for name, command in commands.items():
            times[name].append(timed(command))
    return times


def show(name: str, values: list[float]) -> float:
    median = statistics.median(values)
    print(
        f"  {name:<48} median {median:5.2f} s (min {min(values):.2f}, max {max(values):.2f}, n={len(values)})"
    )
    return median


def both_stacks(tmp: Path, rounds: int) -> None:
    project = project_copy(tmp / "project")
    commands = {
        "backupctl check, both stacks, cold (--no-cache)": [
            *BACKUPCTL,
            "--project-dir",
            str(project),
            "check",
            "--no-cache",
        ],
        "backupctl check, both stacks, warm cache": [*BACKUPCTL, "--project-dir", str(project), "check"],
    }
    checkov_command, about = checkov()
    if checkov_command is not None:
        both, staging = terraform(tmp / "tf")
        commands[f"{about}, both stacks (54 resources)"] = [*checkov_command, str(both)]
        commands[f"{about}, staging only (27 resources)"] = [*checkov_command, str(staging)]
    print(f"Both stacks, {rounds} alternating rounds, load average {os.getloadavg()[0]:.2f} at the start:")
    medians = {name: show(name, values) for name, values in alternate(commands, rounds).items()}
    cold = medians["backupctl check, both stacks, cold (--no-cache)"]
    if checkov_command is None:
        print(f"  ratio to checkov: skipped, {about}")
        return
    for name, value in medians.items():
        if name.startswith("checkov"):
            print(f"  cold ratio to {name}: {cold / value:.2f} (target <= 0.50)")


def databases(tmp: Path, rounds: int) -> None:
    sizes = (1, 50, 200)
    commands = {}
    for size in sizes:
        project = _project_with(size, project_copy(tmp / f"db{size}"))
        commands[f"{size} databases"] = [
            *BACKUPCTL,
            "--project-dir",
            str(project),
            "check",
            "--no-cache",
            "--stack",
            "staging",
        ]
    print(
        f"One stack, cold, {rounds} alternating rounds, load average {os.getloadavg()[0]:.2f} at the start:"
    )
    medians = [show(name, values) for name, values in alternate(commands, rounds).items()]
    first = (medians[1] - medians[0]) / (sizes[1] - sizes[0])
    second = (medians[2] - medians[1]) / (sizes[2] - sizes[1])
    print(
        f"  per database: {first * 1000:.1f} ms (1 to 50), {second * 1000:.1f} ms (50 to 200); ratio "
        f"{second / first:.2f} (1.0 = linear); 200 databases in {medians[2]:.2f} s (target < 10 s)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        both_stacks(Path(tmp), args.rounds)
        databases(Path(tmp), max(3, args.rounds // 2))


if __name__ == "__main__":
    main()
