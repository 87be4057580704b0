"""Wall time of `backupctl check`: both real stacks in one process, then stacks of 50 and 200 databases.

Target: both stacks in under 2 s on 2 cores (after interpreter start); 200 databases under 10 s.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from preview_scale import PROJECT, _project_with

from backupctl.offline.check import run_rules
from backupctl.offline.preview import close_runtime, preview_stack


def timed(project: Path, stacks: list[str]) -> tuple[float, int]:
    start = time.perf_counter()
    resources = 0
    for stack in stacks:
        deployment = preview_stack(project, stack)
        run_rules(deployment, stack=stack)
        resources += len(deployment["deployment"]["resources"])
    return time.perf_counter() - start, resources


def main() -> None:
    seconds, count = timed(PROJECT, ["staging", "prod"])
    print(f"both stacks: {count} resources checked in {seconds:.2f} s (target < 2 s)")
    for size in (50, 200):
        with tempfile.TemporaryDirectory() as tmp:
            seconds, count = timed(_project_with(size, Path(tmp)), ["staging"])
            print(f"{size} databases: {count} resources checked in {seconds:.2f} s (target < 10 s)")
    close_runtime()


if __name__ == "__main__":
    main()
