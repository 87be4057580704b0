"""The restore's integrity check on data nobody here designed for it (issue 13): the type zoo
(tests/fixtures/typezoo.sql, with history so its OIDs differ from any fresh cluster, and database-level
settings pg_dump does not carry) is dumped with the drill's own code and restored into a fresh cluster
with real pg_dump/pg_restore. The checksum must be the same after the restore and differ after any one
changed value, naming the table."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from backupctl.drill import dbbackup, integrity
from backupctl.drill.pgtools import Conn, add_server, cause, sql, tool
from tests.drill_support import load_zoo, postgres, reachable_dir

pytestmark = postgres


@dataclass
class Zoo:
    source: Conn
    restored: Conn
    manifest: dict[str, Any]
    verified: dbbackup.Verified
    notes: list[str]


@pytest.fixture(scope="module")
def zoo() -> Iterator[Zoo]:
    with reachable_dir() as base:
        servers: list[Any] = []
        try:
            source_server = add_server(base, servers, "source").init().start()
            restore_server = add_server(base, servers, "restore").init().start()
            source = load_zoo(source_server)
            backup = dbbackup.dump(source, base / "zoo.dump")
            restored, verified, notes = dbbackup.restore(
                restore_server.conn,
                "drill_restore",
                backup.path,
                backup.manifest["databaseFacts"],
                alongside=lambda conn: dbbackup.verify(conn, backup.manifest),
            )
            assert verified is not None
            yield Zoo(source, restored, backup.manifest, verified, notes)
        finally:
            for server in servers:
                server.stop()


def psql_script(conn: Conn, script: str) -> list[list[str]]:
    done = subprocess.run(
        [tool("psql"), "-X", "-q", "-A", "-t", "-F", "\t", "-v", "ON_ERROR_STOP=1", *conn.args()],
        input=script,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise AssertionError(cause(done.stderr))
    return [line.split("\t") for line in done.stdout.splitlines() if line]


def checksums_after(conn: Conn, change: str) -> dict[str, tuple[int, int]] | None:
    """Every table's (rows, checksum) with ``change`` applied in a transaction that is rolled back;
    None when the change is not possible (a constraint refuses it)."""
    tables = integrity.leaf_tables(conn)
    union = " union all ".join(
        f"select {integrity.quote_literal(t.root)}, * from ({t.statement()}) s{i}"
        for i, t in enumerate(tables)
    )
    script = f"begin; {change}; {integrity.pinned_settings()} {union}; rollback;"
    try:
        rows = psql_script(conn, script)
    except AssertionError:
        return None
    result: dict[str, tuple[int, int]] = {}
    for row in rows:
        if row[0] == "changed":
            result["changed"] = (int(row[1]), 0)
        elif len(row) == 3:
            rows_before, sum_before = result.get(row[0], (0, 0))
            result[row[0]] = (rows_before + int(row[1]), sum_before + int(row[2]))
    return result


def test_the_type_zoo_restored_into_a_fresh_cluster_matches_its_manifest(zoo: Zoo) -> None:
    assert dbbackup.compare(zoo.manifest, zoo.verified) == []
    assert sorted(zoo.manifest["tables"]) == [
        '"Sales Dept"."Order.Lines"',
        "app.base",
        "app.child",
        "app.events",
        "app.hp",
        "app.scratch",
        "app.zoo",
        "public.nopk",
        "public.pairs",
    ]
    assert zoo.manifest["tables"]["app.events"] == {**zoo.manifest["tables"]["app.events"], "leaves": 3}
    assert zoo.manifest["sequences"]['"Sales Dept"."Seq.Mixed"'] == {"lastValue": 9, "isCalled": False}
    assert zoo.manifest["sequences"]["app.counter"] == {"lastValue": 107, "isCalled": True}
    assert len(zoo.verified.sequences) == 5


def test_the_zoo_differs_from_its_restore_in_oids_and_in_how_its_sessions_render_values(zoo: Zoo) -> None:
    """What the checksum must not depend on really differs here: enum OIDs, and (unpinned) the text the
    database's own settings render, which pg_dump without --create does not carry."""
    happy = "select oid from pg_enum where enumlabel = 'happy'"
    assert sql(zoo.source, happy) != sql(zoo.restored, happy)
    enum_hash = "select hash_record_extended(row('happy'::mood), 0)"
    assert sql(zoo.source, enum_hash) != sql(zoo.restored, enum_hash)
    rendered = "select ts::text, iv::text, by::text from app.zoo where id = 1"
    assert sql(zoo.source, rendered) == [
        ["10/03/2024 03:30:00 EDT", "1 25:00:00", "\\336\\255\\276\\357\\000"]
    ]
    table = next(t for t in integrity.leaf_tables(zoo.source) if t.name == "app.zoo")
    unpinned = sql(zoo.source, table.statement())
    pinned = sql(zoo.source, f"{integrity.pinned_settings()} {table.statement()}")
    assert unpinned != pinned, "the database's settings change the unpinned text"
    assert pinned[0][1] == zoo.manifest["tables"]["app.zoo"]["checksum"]


def test_the_database_settings_owner_and_privileges_come_back_with_the_restore(zoo: Zoo) -> None:
    facts = integrity.database_facts(zoo.restored)
    assert zoo.notes == []
    assert integrity.compare_facts(zoo.manifest["databaseFacts"], facts) == []
    assert facts["owner"] == "zoo_owner" and facts["comment"] == "type zoo for issue 13"
    assert "TimeZone=America/New_York" in facts["settings"]["*"]
    assert facts["settings"]["zoo_reader"] == ["work_mem=8MB"]
    assert ["zoo_reader", "CONNECT", False] in facts["privileges"]


def test_a_database_setting_lost_in_the_restore_is_reported(zoo: Zoo) -> None:
    sql(zoo.restored, "alter database drill_restore reset timezone")
    try:
        differences = integrity.compare_facts(
            zoo.manifest["databaseFacts"], integrity.database_facts(zoo.restored)
        )
    finally:
        sql(zoo.restored, "alter database drill_restore set timezone = 'America/New_York'")
    assert len(differences) == 1 and differences[0].startswith("database settings: restored")


def _columns(conn: Conn) -> list[tuple[str, str, str, bool]]:
    rows = sql(
        conn,
        "select format('%I.%I', n.nspname, c.relname), quote_ident(a.attname), "
        "case when p.oid is null then format('%I.%I', n.nspname, c.relname) "
        "else format('%I.%I', pn.nspname, p.relname) end, "
        "a.attgenerated <> '' or a.attidentity <> '' "
        "from pg_class c join pg_namespace n on n.oid = c.relnamespace "
        "join pg_attribute a on a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped "
        "left join pg_class p on p.oid = pg_partition_root(c.oid) "
        "left join pg_namespace pn on pn.oid = p.relnamespace "
        "where c.relkind = 'r' and n.nspname in ('app', 'public', 'Sales Dept') order by 1, a.attnum",
    )
    return [(t, c, root, special == "t") for t, c, root, special in rows]


def _mutations(table: str, column: str) -> list[str]:
    """Changes of one value of the first row, each counting the rows it changed (0: not applicable)."""
    first = f"ctid = (select min(ctid) from only {table})"
    other = (
        f"(select {column} from only {table} where {column}::text is distinct from "
        f"(select {column}::text from only {table} where {first}) limit 1)"
    )
    updates = [
        f"update only {table} set {column} = {other} where {first} and {other} is not null",
        f"update only {table} set {column} = null where {first} and {column} is not null",
        f"update only {table} set {column} = {column} + 1 where {first}",
        f"update only {table} set {column} = -{column} - 1000000 where {first}",
    ]
    return [f"with changed as ({u} returning 1) select 'changed', count(*) from changed" for u in updates]


def test_one_changed_value_in_any_column_changes_only_its_tables_checksum(zoo: Zoo) -> None:
    before = checksums_after(zoo.restored, "select 1")
    assert before is not None
    unchanged, untested = [], []
    for table, column, root, special in _columns(zoo.restored):
        if special:
            continue  # generated or identity: changed through the columns they come from (below)
        for change in _mutations(table, column):
            after = checksums_after(zoo.restored, change)
            if after is None or after.pop("changed") == (0, 0):
                continue  # refused by a constraint, or no row to change this way
            changed = sorted(k for k in after if after[k] != before[k])
            assert changed == [root], f"{table}.{column}: {change} changed {changed}"
            break
        else:
            (untested if root == "app.hp" else unchanged).append(f"{table}.{column}")
    assert unchanged == [], "columns no change could be made to"
    # The partitions of app.hp (hash-partitioned on the enum) hold one value each or nothing, as the
    # restored enum OIDs fell: a changed m moves the row out, which the tree's checksum sees (below).
    assert len(untested) <= 4, untested


@pytest.mark.parametrize(
    ("change", "changes"),
    [
        ("update app.zoo set n = 1.5 where id = 1", True),  # numeric 1.50 -> 1.5: equal, prints otherwise
        ("update app.zoo set f4 = 0 where id = 3", True),  # float -0 -> 0
        ("update app.zoo set p = '(1.5,0)' where id = 1", True),  # point (1.5,-0) -> (1.5,0)
        ("update app.zoo set iv = '2 days 01:00:00' where id = 1", True),  # = '1 day 25:00:00'
        ("update app.zoo set tci = 'straße' where id = 1", True),  # = 'Straße' in the ci collation
        ("update app.zoo set tcia = '{straße,STRASSE}' where id = 1", True),  # same, in an array
        ("""update app.zoo set jb = '{"b": 1.0, "a": [1, 2], "aa": null}' where id = 1""", True),
        ("""update app.zoo set j = '{"b":1,"a":[1,2]}' where id = 1""", True),  # json whitespace
        ("update app.zoo set ts = ts + interval '1 microsecond' where id = 1", True),
        ("update app.zoo set tt = '06:30:00+00' where id = 1", True),  # same instant, another zone
        ("update app.zoo set ip = '192.168.0.1/25' where id = 1", True),
        ("update app.zoo set tv = 'a:1B b:2B' where id = 3", True),  # tsvector weight
        ("update app.zoo set mo = mo + 0.01::money where id = 1", True),
        ("update app.zoo set ms = '{sad,happy,ok}' where id = 1", True),  # one enum in an array
        ("update app.zoo set mm = '{ok,happy}' where id = 1", True),  # a domain over an enum array
        ("update app.zoo set a = row('', null, null) where id = 2", True),  # composite NULL -> ''
        ("""update app.zoo set tarr = '{"a b","NULL","\\""}' where id = 1""", True),  # NULL -> 'NULL'
        ("update app.zoo set arr = '{{1,NULL},{3,4}}' where id = 1", True),
        ("update app.zoo set arr = '[0:2]={1,NULL,3}' where id = 1", True),  # only the bounds differ
        ("update app.zoo set x = '<a x=\"1\">t</a>' where id = 1", True),  # xml whitespace
        ("update app.zoo set rc = 'app.child' where id = 1", True),
        ("update app.zoo set big = 9223372036854775806 where id = 1", True),
        ("update public.pairs set a = 4294967300 where a = 5", True),  # int8 hash: 5 ^ 0 = 4 ^ 1
        ("update public.pairs set t = t + interval '4294.967297 seconds' where a = 5", True),  # same fold
        ("update public.pairs set b = case b when 10 then 20 when 20 then 10 else b end", True),  # swap
        ("update public.nopk set k = 2, v = null, m = null where ctid = '(0,1)'", True),  # a duplicate moves
        ("update app.hp set m = 'sad' where v = 2", True),  # moves the row to another partition
        ("""update app.zoo set jb = '{"aa": null, "a": [1, 2], "b": 1}' where id = 1""", False),
        ("update app.zoo set ts = '2024-03-10 07:30:00+00' where id = 1", False),  # the same instant
        ("update app.zoo set ch = 'ab ' where id = 1", False),  # char(5): the same padded value
        ("update app.zoo set r4 = '[1,9]' where id = 1", False),  # the same range, canonical form
        (  # one of three duplicates deleted and inserted again: the same multiset in another order
            "delete from public.nopk where k = 1 and ctid = '(0,1)'; "
            "insert into public.nopk values (1, 'x', 'ok')",
            False,
        ),
    ],
)
def test_the_checksum_sees_every_change_of_value_and_nothing_else(
    zoo: Zoo, change: str, changes: bool
) -> None:
    before, after = checksums_after(zoo.restored, "select 1"), checksums_after(zoo.restored, change)
    assert before is not None and after is not None, change
    assert (after != before) is changes, change


def test_a_sequence_that_restored_elsewhere_is_reported(zoo: Zoo) -> None:
    names = list(zoo.manifest["sequences"])
    sql(zoo.restored, "select setval('app.counter', 200)")
    try:
        problems = integrity.compare_sequences(
            zoo.manifest["sequences"], integrity.restored_sequences(zoo.restored, names)
        )
    finally:
        sql(zoo.restored, "select setval('app.counter', 107)")
    assert problems == ["sequence app.counter is at 200 (called: True), the dump at 107 (called: True)"]


@pytest.mark.parametrize(
    ("output", "expected"),
    [
        (
            'pg_restore: error: COPY failed for table "orders": ERROR:  invalid input syntax for type money\n'
            "pg_restore: error: a worker process died unexpectedly\n",
            'pg_restore: error: COPY failed for table "orders": ERROR: invalid input syntax for type money',
        ),
        (
            'pg_restore: error: COPY failed for table "items": ERROR:  could not extend file "base/1/2": '
            "wrote only 4096 of 8192 bytes at block 12607\nHINT:  Check free disk space.\n"
            'CONTEXT:  COPY items, line 1\npg_restore: error: COPY failed for table "orders": ERROR:  could '
            'not extend file "base/1/3": No space left on device\npg_restore: warning: errors ignored\n',
            'pg_restore: error: COPY failed for table "orders": ERROR: could not extend file "base/1/3": '
            "No space left on device",
        ),
        (
            "initdb: error: could not create directory: No space left on device\n"
            'initdb: removing data directory "/x"\n',
            "initdb: error: could not create directory: No space left on device",
        ),
        (
            "pg_restore: error: a worker process died unexpectedly\n",
            "pg_restore: error: a worker process died unexpectedly",
        ),
        (  # the server crashed (a PANIC on a full WAL disk): the client's words, not the worker's
            "pg_restore: error: error returned by PQputCopyData: server closed the connection unexpectedly\n"
            "\tThis probably means the server terminated abnormally\n"
            "pg_restore: error: a worker process died unexpectedly\n",
            "pg_restore: error: error returned by PQputCopyData: server closed the connection unexpectedly",
        ),
    ],
)
def test_a_tools_failure_is_told_by_its_cause_not_its_last_words(output: str, expected: str) -> None:
    assert cause(output) == expected


def test_restored_sequences_skip_a_missing_one_and_keep_each_name_with_its_own_position(zoo: Zoo) -> None:
    names = list(zoo.manifest["sequences"])
    found = integrity.restored_sequences(zoo.restored, ['app."no such seq"', *names])
    assert list(found) == names  # the missing one is absent, every other keeps its own value
    assert found == {name: zoo.manifest["sequences"][name] for name in names}
