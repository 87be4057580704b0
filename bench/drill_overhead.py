"""What the local drill's backup + restore + integrity costs over the raw commands (target: <= 1.2x).

Seeds a throwaway PostgreSQL with the drill's dataset (about 1 GB by default), then on the same data:
  raw:   pg_dump -Fc, then pg_restore -j2 into a new database;
  drill: the drill's own code for steps 2-3: pg_dump -Fc with the same-snapshot manifest (row counts and
         checksums), upload to the embedded S3, download with SHA-256 check, pg_restore -j2, checksums of
         the restore compared with the manifest.
Prints both wall times and the ratio. Usage: python bench/drill_overhead.py [--orders N] [--jobs 2]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from backupctl.drill import dbbackup
from backupctl.drill.pgtools import add_server, run, scalar, sql, tool, workspace
from backupctl.drill.sandbox import LOCAL_BUCKET, embedded_s3, seed


def main() -> None:
    parser = argparse.ArgumentParser(description="Local drill backup + restore + integrity vs raw commands.")
    parser.add_argument("--orders", type=int, default=2_600_000, help="seeded orders (2.6M is about 1 GB)")
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args()
    with workspace(prefix="maestro-bench-") as (root, servers):
        server = add_server(root, servers, "db").init().start()
        source = server.conn
        started = time.perf_counter()
        seed(source, args.orders)
        size = int(scalar(source, "select pg_database_size(current_database())"))
        print(f"seeded {args.orders} orders: {size / 2**30:.2f} GiB in {time.perf_counter() - started:.0f} s")

        started = time.perf_counter()
        raw_dump = root / "raw.dump"
        run([tool("pg_dump"), "-Fc", "-f", str(raw_dump), *source.args()], what="pg_dump")
        sql(source, "create database raw_restore")
        run(
            [
                tool("pg_restore"),
                "-j",
                str(args.jobs),
                "--no-owner",
                *source.with_db("raw_restore").args(),
                str(raw_dump),
            ],
            what="pg_restore",
        )
        raw = time.perf_counter() - started
        raw_dump.unlink()
        sql(source, "drop database raw_restore")
        print(f"raw   pg_dump -Fc + pg_restore -j{args.jobs}: {raw:.1f} s")

        with embedded_s3("GOVERNANCE", 1) as clients:
            s3 = clients.client("s3")
            started = time.perf_counter()
            result = dbbackup.dump(source, root / "drill.dump", jobs=args.jobs)
            dbbackup.upload(s3, LOCAL_BUCKET, "backups/postgres", result)
            result.path.unlink()
            manifest = dbbackup.newest_manifest(s3, LOCAL_BUCKET, "backups/postgres", "postgres")
            assert manifest is not None
            path = dbbackup.download(s3, manifest, Path(root / "downloaded.dump"))
            _, stats = dbbackup.restore(
                source,
                "drill_restore",
                path,
                jobs=args.jobs,
                alongside=lambda conn: dbbackup.restored_stats(conn, manifest, jobs=args.jobs),
            )
            problems = dbbackup.compare(manifest, stats or {})
            drill = time.perf_counter() - started
        print(f"drill backup + restore + integrity: {drill:.1f} s ({len(problems)} integrity problems)")
        print(f"ratio drill / raw: {drill / raw:.2f} (target <= 1.20)")


if __name__ == "__main__":
    main()
