"""Preview cost against stack size: 1, 50 and 200 databases.

Prints wall time, seconds per resource and peak memory for each size, each in a fresh process, and
the ratio of per-resource cost between the largest and smallest stack (1.0 = linear).
Target: 200 databases in under 10 s on 2 cores, cost linear in resources.
"""

from __future__ import annotations

import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

PROJECT = Path(__file__).resolve().parent.parent
SIZES = (1, 50, 200)


def _child(project_dir: str) -> None:
    from backupctl.offline.preview import close_runtime, preview_stack  # noqa: PLC0415

    start = time.perf_counter()
    deployment = preview_stack(Path(project_dir), "staging")
    elapsed = time.perf_counter() - start
    close_runtime()
    count = sum(1 for r in deployment["deployment"]["resources"] if r["custom"])
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"seconds": elapsed, "resources": count, "peak_mb": peak_mb}))


def _project_with(databases: int, where: Path) -> Path:
    for name in ("Pulumi.yaml", "__main__.py"):
        shutil.copy(PROJECT / name, where / name)
    stack = yaml.safe_load((PROJECT / "Pulumi.staging.yaml").read_text())
    stack["config"]["maestro-backup:databases"] = [
        {"name": f"db{i:03d}", "criticality": "critical" if i % 4 == 0 else "standard"}
        for i in range(databases)
    ]
    (where / "Pulumi.staging.yaml").write_text(yaml.safe_dump(stack))
    return where


def main() -> None:
    rows = []
    for size in SIZES:
        with tempfile.TemporaryDirectory() as tmp:
            project = _project_with(size, Path(tmp))
            out = subprocess.run(
                [sys.executable, __file__, "--child", str(project)],
                capture_output=True,
                text=True,
                check=True,
            )
            row = json.loads(out.stdout.strip().splitlines()[-1])
            row["databases"] = size
            rows.append(row)
            print(
                f"{size:>4} databases: {row['resources']:>5} resources  {row['seconds']:6.2f} s  "
                f"{row['seconds'] / row['resources'] * 1000:6.2f} ms/resource  peak {row['peak_mb']:.0f} MB"
            )
    small, large = rows[0], rows[-1]
    ratio = (large["seconds"] / large["resources"]) / (small["seconds"] / small["resources"])
    print(
        f"per-resource cost ratio {large['databases']} vs {small['databases']} databases: {ratio:.2f} "
        f"(1.0 = linear); {large['databases']} databases in {large['seconds']:.2f} s (target < 10 s)"
    )


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--child":
        _child(sys.argv[2])
    else:
        main()
