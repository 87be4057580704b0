"""The local drill's sandbox (runbook 2 without a cloud account): a seeded order-processing dataset with
its default smoke suite, an embedded S3 (a moto server) holding a backup bucket and an Object Lock
evidence bucket, and the config parameters that step 6 backs up, drifts and diffs."""

from __future__ import annotations

import contextlib
import logging
import urllib.request
from collections.abc import Callable, Iterator
from typing import Any

from backupctl.drill.checks import SmokeSuite, config_dry_run
from backupctl.drill.pgtools import Conn, sql
from backupctl.drill.recorder import Drill
from backupctl.live.aws import BOUNDED, Clients

LOCAL_BUCKET = "maestro-drill-backups"
LOCAL_EVIDENCE_BUCKET = "maestro-drill-evidence"
LOCAL_REGION = "us-east-1"
# Evidence retention bounds (runbook 1.2: at least 90 days; Object Lock allows 100 years); mirrors
# components.settings (tested), which the command line does not import.
MIN_LOCK_DAYS, MAX_LOCK_DAYS = 90, 36500

SEED_SQL = """
create table customers (id bigint primary key, email text not null unique, region text not null,
  created_at timestamptz not null);
create table orders (id bigint primary key, customer_id bigint not null references customers(id),
  status text not null, total_cents bigint not null, placed_at timestamptz not null);
create table order_items (order_id bigint not null references orders(id), line int not null,
  sku text not null, quantity int not null, price_cents bigint not null, primary key (order_id, line));
create table routing_pins (tenant text primary key, region text not null, pinned_at timestamptz not null);
create table audit_events (at timestamptz not null, tenant text not null, action text not null);
insert into customers select g, 'user' || g || '@example.com',
  (array['eu-west-1','eu-central-1','us-east-1'])[1 + g % 3],
  timestamptz '2026-01-01' + g * interval '1 minute' from generate_series(1, {customers}) g;
insert into orders select g, 1 + g % {customers}, (array['placed','paid','shipped','refunded'])[1 + g % 4],
  (g::bigint * 7919) % 100000, timestamptz '2026-02-01' + g * interval '10 seconds'
  from generate_series(1, {orders}) g;
insert into order_items select o, l, 'SKU-' || ((o::bigint * l) % 5000), 1 + (o + l) % 5,
  ((o::bigint * 31 + l) % 9000) + 100 from generate_series(1, {orders}) o, generate_series(1, 3) l;
insert into routing_pins select 'tenant-' || g, (array['eu-west-1','eu-central-1'])[1 + g % 2], now()
  from generate_series(1, 50) g;
insert into audit_events select timestamptz '2026-03-01' + g * interval '1 second', 'tenant-' || (g % 50),
  (array['login','pin-change','export'])[1 + g % 3] from generate_series(1, {orders} / 10) g;
analyze;
"""

DEFAULT_SUITE = SmokeSuite(
    tables=[
        "public.customers",
        "public.orders",
        "public.order_items",
        "public.routing_pins",
        "public.audit_events",
    ],
    non_empty=["public.customers", "public.orders", "public.order_items", "public.routing_pins"],
    canaries={
        "every-order-has-a-customer": "select not exists (select 1 from orders o left join customers c "
        "on c.id = o.customer_id where c.id is null)",
        "every-order-has-items": "select not exists (select 1 from orders o where not exists "
        "(select 1 from order_items i where i.order_id = o.id))",
        "routing-pins-cover-tenants": "select count(*) = 50 from routing_pins",
    },
)


def seed(conn: Conn, orders: int) -> None:
    customers = max(10, orders // 5)
    sql(conn, SEED_SQL.format(customers=customers, orders=orders))


@contextlib.contextmanager
def embedded_s3(lock_mode: str, lock_days: int) -> Iterator[Clients]:
    """A moto S3 server on 127.0.0.1 for the local drill, with a backup bucket and an Object Lock
    evidence bucket; stopped on exit (its contents live only as long as the drill)."""
    clients, server = start_embedded_s3(lock_mode, lock_days)
    try:
        yield clients
    finally:
        server.stop()


def start_embedded_s3(lock_mode: str, lock_days: int) -> tuple[Clients, Any]:
    """``embedded_s3`` without the context: the clients and the running server, which the caller stops
    (a test stops it mid-drill to see the drill cope with S3 gone)."""
    import boto3  # noqa: PLC0415
    from moto.server import ThreadedMotoServer  # noqa: PLC0415

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no per-request lines in the drill's progress
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        # moto keeps its state per process: start from an empty account, not an earlier drill's buckets.
        urllib.request.urlopen(
            urllib.request.Request(f"http://{host}:{port}/moto-api/reset", method="POST"), timeout=10
        ).close()
        session = boto3.Session(
            aws_access_key_id="drill",
            aws_secret_access_key="drill",  # noqa: S106 - the embedded moto server takes any key
            region_name=LOCAL_REGION,
        )
        clients = Clients(session, f"http://{host}:{port}", BOUNDED)
        s3 = clients.client("s3")
        s3.create_bucket(Bucket=LOCAL_BUCKET)
        s3.put_bucket_versioning(Bucket=LOCAL_BUCKET, VersioningConfiguration={"Status": "Enabled"})
        for i in range(3):  # the artifacts the index step restores and compares
            s3.put_object(Bucket=LOCAL_BUCKET, Key=f"artifacts/build-{i}.tar.gz", Body=b"artifact %d" % i)
        s3.create_bucket(Bucket=LOCAL_EVIDENCE_BUCKET, ObjectLockEnabledForBucket=True)
        s3.put_object_lock_configuration(
            Bucket=LOCAL_EVIDENCE_BUCKET,
            ObjectLockConfiguration={
                "ObjectLockEnabled": "Enabled",
                "Rule": {"DefaultRetention": {"Mode": lock_mode, "Days": lock_days}},
            },
        )
    except BaseException:
        server.stop()
        raise
    return clients, server


def local_config_restore(clients: Any, bucket: str) -> Callable[[Drill], str]:
    """Step 6 of the local drill: the ops config backup and restore code against the drill's S3/SSM
    (the moto server): pins are backed up, one drifts, and the dry-run diff must show it."""

    def restore(drill: Drill) -> str:
        from backupctl.live import configbackup  # noqa: PLC0415

        ssm, sm = clients.client("ssm"), clients.client("secretsmanager")
        outputs = {
            "region": clients.region or LOCAL_REGION,
            "environment": "drill",
            "configBucket": bucket,
            "parameterPaths": ["/maestro/drill"],
            "secretsPrefix": "maestro-drill/",
        }
        for i, region in enumerate(("eu-west-1", "eu-central-1")):
            ssm.put_parameter(
                Name=f"/maestro/drill/routing-pins/tenant-{i}", Value=region, Type="String", Overwrite=True
            )
        snapshot = configbackup.collect_stack(ssm, sm, outputs)
        configbackup.write_snapshot(clients.client("s3"), bucket, None, snapshot)
        ssm.put_parameter(
            Name="/maestro/drill/routing-pins/tenant-1", Value="us-east-1", Type="String", Overwrite=True
        )
        return config_dry_run(drill, clients, outputs)

    return restore
