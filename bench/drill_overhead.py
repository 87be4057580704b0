"""What the drill's backup + restore + integrity costs over the raw commands (issue 13 target: <= 1.2x).

Seeds a throwaway PostgreSQL with orders that carry an enum, numeric, timestamptz, uuid, text[], inet,
jsonb, json and text column, plus customers and order items (about 1 GB at the default size), then
alternates, pair by pair (the order flips each pair, so a drifting machine load favours neither):

  raw:   pg_dump -Fc to a file; then pg_restore -j2 into a new database on a fresh server;
  drill: the drill's own code for steps 2-3: pg_dump -Fc with the same-snapshot manifest (row counts,
         checksums, sequences, database settings), upload to the embedded S3 with its SHA-256; then
         download with the SHA-256 check, pg_restore -j2 into a new database on a fresh server with the
         checksums of the restore overlapping the index builds, the database settings brought back, and
         the comparison with the manifest.

Each restore goes to a server initialised just before it (not timed), as the drill's does. Prints every
run, the medians per phase (backup, restore + integrity) and of the total, the machine's load average,
and exits 1 when the median total ratio misses the target (2 when the drill's integrity check fails).
Usage: python bench/drill_overhead.py [--orders N] [--pairs 3] [--jobs 2] [--target 1.2]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

from backupctl.drill import dbbackup
from backupctl.drill.pgtools import Conn, Workspace, run, scalar, sql, tool
from backupctl.drill.sandbox import LOCAL_BUCKET, embedded_s3

SEED = """
create type order_status as enum ('placed', 'paid', 'shipped', 'refunded');
create table customers (id bigint primary key, email text not null, region text not null,
  created_at timestamptz not null);
insert into customers select g, 'user' || g || '@example.com',
  (array['eu-west-1','eu-central-1','us-east-1'])[1 + g % 3],
  timestamptz '2026-01-01' + g * interval '1 minute' from generate_series(1, {customers}) g;
create table orders (id bigint primary key, customer_id bigint not null references customers(id),
  status order_status not null, total numeric(12,2) not null, placed_at timestamptz not null,
  uid uuid not null, tags text[], client_ip inet, attrs jsonb, raw json, note text);
insert into orders select g, 1 + g % {customers},
  (array['placed','paid','shipped','refunded'])[1 + g % 4]::order_status,
  ((g::bigint * 7919) % 100000) / 100.0, timestamptz '2026-02-01' + g * interval '10 seconds',
  md5(g::text)::uuid, array['tag' || g % 7, 'tag' || g % 11, 'prio-' || g % 3],
  ('10.' || g % 256 || '.' || (g / 256) % 256 || '.' || g % 199)::inet,
  jsonb_build_object('channel', (array['web','app','pos'])[1 + g % 3], 'items', g % 9,
    'coupon', case when g % 5 = 0 then 'SAVE' || g % 100 end,
    'geo', jsonb_build_object('lat', (g % 180) - 90.5, 'lon', (g % 360) - 180.25)),
  json_build_object('src', 'import', 'batch', g / 1000, 'ok', g % 13 <> 0, 'ref', md5((g * 3)::text)),
  'order note ' || md5((g * 7)::text)
  from generate_series(1, {orders}) g;
create table order_items (order_id bigint not null references orders(id), line int not null,
  sku text not null, quantity int not null, price_cents bigint not null, primary key (order_id, line));
insert into order_items select o, l, 'SKU-' || ((o::bigint * l) % 5000), 1 + (o + l) % 5,
  ((o::bigint * 31 + l) % 9000) + 100 from generate_series(1, {orders} * 2 / 5) o, generate_series(1, 2) l;
create index orders_placed_at on orders (placed_at);
create index orders_customer on orders (customer_id);
analyze;
"""

Phases = tuple[float, float]


def timed(action: Callable[[], Any]) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def fresh_server(space: Workspace, name: str) -> Conn:
    return space.add_server(name).init().start().conn


def raw_run(space: Workspace, source: Conn, jobs: int, n: int) -> Phases:
    dump = space.root / f"raw-{n}.dump"
    backup = timed(lambda: run([tool("pg_dump"), "-Fc", "-f", str(dump), *source.args()], what="pg_dump"))
    target = fresh_server(space, f"raw-restore-{n}")

    def restore() -> None:
        sql(target, "create database restored")
        restore_args = ["-j", str(jobs), "--no-owner", "--exit-on-error", *target.with_db("restored").args()]
        run([tool("pg_restore"), *restore_args, str(dump)], what="pg_restore")

    restored = timed(restore)
    dump.unlink()
    space.servers.pop().stop()
    return backup, restored


def drill_run(space: Workspace, source: Conn, s3: Any, jobs: int, n: int) -> tuple[Phases, list[str]]:
    stored: dict[str, Any] = {}
    parts: dict[str, float] = {}

    def backup() -> None:
        path = space.root / f"drill-{n}.dump"
        stored.update(dbbackup.backup(source, path, s3, LOCAL_BUCKET, "bench", jobs=jobs))
        path.unlink()

    took_backup = timed(backup)
    target = fresh_server(space, f"drill-restore-{n}")
    problems: list[str] = []

    def restore() -> None:
        started = time.perf_counter()
        path = dbbackup.download(s3, stored, space.root / f"downloaded-{n}.dump")
        parts["download"] = time.perf_counter() - started
        started = time.perf_counter()
        _, verified, notes = dbbackup.restore(
            target,
            "drill_restore",
            path,
            stored["databaseFacts"],
            jobs=jobs,
            alongside=lambda c: dbbackup.verify(c, stored, jobs=jobs),
        )
        parts["pg_restore+verify"] = time.perf_counter() - started
        assert verified is not None
        problems.extend(dbbackup.compare(stored, verified) + notes)
        path.unlink()

    took_restore = timed(restore)
    space.servers.pop().stop()
    print("      drill parts: " + ", ".join(f"{k} {v:.1f} s" for k, v in parts.items()), flush=True)
    return (took_backup, took_restore), problems


def report(raw: list[Phases], drill: list[Phases], target: float) -> bool:
    def med(runs: list[Phases], i: int | None) -> float:
        return statistics.median(sum(r) if i is None else r[i] for r in runs)

    print(f"medians over {len(raw)} pairs:")
    for label, i in (("backup", 0), ("restore + integrity", 1), ("total", None)):
        r, d = med(raw, i), med(drill, i)
        print(f"  {label:<20} raw {r:7.1f} s   drill {d:7.1f} s   ratio {d / r:.2f}")
    # On a shared machine the load drifts between pairs; each pair's own ratio shows how much.
    pairs = sorted(sum(d) / sum(r) for r, d in zip(raw, drill, strict=True))
    print(f"  per pair: {', '.join(f'{x:.2f}' for x in pairs)} (median {statistics.median(pairs):.2f})")
    ratio = med(drill, None) / med(raw, None)
    met = ratio <= target
    print(f"ratio drill / raw: {ratio:.2f} (target <= {target:.2f}): {'met' if met else 'MISSED'}")
    return met


def main() -> int:
    parser = argparse.ArgumentParser(description="Local drill backup + restore + integrity vs raw commands.")
    parser.add_argument("--orders", type=int, default=2_000_000, help="seeded orders (2M is about 1 GB)")
    parser.add_argument("--pairs", type=int, default=3, help="alternating raw/drill pairs (at least 3)")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--target", type=float, default=1.2)
    args = parser.parse_args()
    if args.pairs < 3:
        parser.error("--pairs: at least 3, for medians that mean something")
    space = Workspace.create(prefix="maestro-bench-")
    try:
        source = fresh_server(space, "source")
        started = time.perf_counter()
        sql(source, SEED.format(orders=args.orders, customers=max(10, args.orders // 5)))
        size = int(scalar(source, "select pg_database_size(current_database())"))
        print(f"seeded {args.orders} orders: {size / 2**30:.2f} GiB in {time.perf_counter() - started:.0f} s")
        print(
            f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())} on {os.cpu_count()} CPUs"
        )
        raw: list[Phases] = []
        drill: list[Phases] = []
        with embedded_s3("GOVERNANCE", 1) as clients:
            s3 = clients.client("s3")
            for n in range(args.pairs):
                for kind in ("raw", "drill") if n % 2 == 0 else ("drill", "raw"):
                    if kind == "raw":
                        raw.append(raw_run(space, source, args.jobs, n))
                        phases = raw[-1]
                    else:
                        phases, problems = drill_run(space, source, s3, args.jobs, n)
                        drill.append(phases)
                        if problems:
                            print(f"integrity problems: {problems}")
                            return 2
                    print(
                        f"pair {n + 1} {kind:<5} backup {phases[0]:6.1f} s  restore {phases[1]:6.1f} s",
                        flush=True,
                    )
        print(f"load average after:  {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
        return 0 if report(raw, drill, args.target) else 1
    finally:
        space.close()


if __name__ == "__main__":
    sys.exit(main())
