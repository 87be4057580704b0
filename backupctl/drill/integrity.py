"""What a logical backup's manifest records about its database, and how a restore is held against it
(runbook 1.1 pg_dump method, 2.1 step 3 "verify integrity").

A restore lands in a cluster where every OID differs and whose sessions may render values differently, so
nothing here depends on either:

- Tables: each leaf table's rows are counted and hashed, one 64-bit hash per row, and the hashes summed
  (so row order does not matter and duplicates count) per partition tree or table. Columns go by name,
  not position (a partition attached with its own column order, an inheritance child, a dropped column
  all restore with another physical order). Columns whose type's hash tells every distinct value apart
  and hashes no OID (integers, text in a deterministic collation, bytea, uuid, date, inet, macaddr, and
  domains over them) go through ``hash_record_extended`` without a text conversion; 64-bit types
  (int8, timestamps, times), whose hash folds 64 bits into 32, and json/jsonb go through their binary
  send form; every other column (enums, numeric, floats, intervals, arrays, ranges, composites,
  tsvector, xml, ...) is hashed by its text, rendered under the settings ``PINNED`` fixes for both
  scans (TimeZone, DateStyle, IntervalStyle, extra_float_digits, bytea_output, lc_monetary,
  search_path), so a database-level ``SET timezone`` that ``pg_dump`` does not carry cannot change it.
  The binary part seeds the text hash, which mixes all its 64 bits: values swapped between two rows
  change the sum (a plain sum of ``hash_record_extended``, linear in its columns, would not notice).
- Partitioned tables are compared per partition tree: rows of a table hash-partitioned on an enum may
  land in another partition after a restore (enum hashes follow OIDs), and that restore is still right.
- Sequences: the position each ``SEQUENCE SET`` entry of the dump carries (read from the dump itself,
  since sequences are not transactional and only the dump knows what it captured).
- The database itself: owner, encoding and locale, comment, privileges and ``ALTER DATABASE ... SET``
  settings (per role too), which ``pg_dump`` without ``--create`` does not carry; the drill brings them
  back on the restored database and reports any it could not.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any

from backupctl.drill.pgtools import Conn, PgError, parallel, run, sql, tool

CHECKSUM_METHOD = "maestro-row-hash@2"

# Every setting that changes how a value is rendered as text, fixed for both scans (and jit, which costs
# more than it saves on one scan). search_path=pg_catalog makes regclass and friends print qualified.
PINNED = (
    ("TimeZone", "UTC"),
    ("DateStyle", "ISO, YMD"),
    ("IntervalStyle", "postgres"),
    ("extra_float_digits", "3"),
    ("bytea_output", "hex"),
    ("lc_monetary", "C"),
    ("search_path", "pg_catalog"),
    ("quote_all_identifiers", "off"),
    ("jit", "off"),
)

# Built-in types whose extended hash tells apart every pair of values that print differently, and hashes
# no OID: hashed in binary (no text conversion). Not here on purpose: enums (hashed by OID), numeric
# (1.5 = 1.50), float4/8 (0 = -0), interval ('1 day' = '24 hours'), jsonb (numbers inside), arrays (their
# hash ignores dimensions: '{1,2,3,4}' = '{{1,2},{3,4}}'), text in a nondeterministic collation, and every
# type without a hash function. Text types count only in a deterministic collation.
BINARY = frozenset(
    [
        "bool",
        "char",
        "name",
        "int2",
        "int4",
        "oid",
        "text",
        "varchar",
        "bpchar",
        "bytea",
        "uuid",
        "date",
        "inet",
        "cidr",
        "macaddr",
        "macaddr8",
    ]
)
# Hashed through their binary send form instead: 64-bit types, whose hash folds the two halves into 32
# bits (int8 5 and 4294967300 hash alike), and json/jsonb, whose send form is their text (jsonb's in
# canonical key order) without the quoting a row's text adds: a quarter of the cost on json-heavy tables.
SENT = {
    "int8": "int8send",
    "timestamp": "timestamp_send",
    "timestamptz": "timestamptz_send",
    "time": "time_send",
    "timetz": "timetz_send",
    "json": "json_send",
    "jsonb": "jsonb_send",
}

# Leaf tables that hold rows (relkind r: plain tables, partitions, inheritance children), not in an
# extension, with their partition root, size and each column: name, built-in base type (through
# domains) and whether its collation is deterministic.
TABLE_COLUMNS = """
with recursive base(oid, base) as (
  select oid, oid from pg_catalog.pg_type where typtype <> 'd'
  union all
  select t.oid, b.base from pg_catalog.pg_type t join base b on t.typbasetype = b.oid where t.typtype = 'd'
)
select format('%I.%I', n.nspname, c.relname),
       coalesce((select format('%I.%I', rn.nspname, r.relname) from pg_catalog.pg_class r
                 join pg_catalog.pg_namespace rn on rn.oid = r.relnamespace
                 where r.oid = pg_catalog.pg_partition_root(c.oid)), format('%I.%I', n.nspname, c.relname)),
       pg_catalog.pg_relation_size(c.oid),
       coalesce(a.attname::text, ''),
       coalesce((select bt.typname::text from base b join pg_catalog.pg_type bt on bt.oid = b.base
                 where b.oid = a.atttypid and bt.typnamespace = 'pg_catalog'::pg_catalog.regnamespace), ''),
       coalesce((select collisdeterministic from pg_catalog.pg_collation where oid = a.attcollation), true)
from pg_catalog.pg_class c
join pg_catalog.pg_namespace n on n.oid = c.relnamespace
left join pg_catalog.pg_attribute a on a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped
where c.relkind = 'r' and n.nspname <> 'information_schema' and n.nspname !~ '^pg_'
  and not exists (select from pg_catalog.pg_depend d where d.classid = 'pg_catalog.pg_class'::regclass
                  and d.objid = c.oid and d.deptype = 'e')
order by 1, a.attname collate "C"
"""

DATABASE_FACTS = """
select pg_catalog.json_build_object(
  'owner', pg_catalog.pg_get_userbyid(d.datdba),
  'encoding', pg_catalog.pg_encoding_to_char(d.encoding),
  'localeProvider', case d.datlocprovider when 'i' then 'icu' else 'libc' end,
  'collate', d.datcollate, 'ctype', d.datctype, 'icuLocale', d.daticulocale,
  'connectionLimit', d.datconnlimit,
  'comment', pg_catalog.shobj_description(d.oid, 'pg_database'),
  'privileges', (select coalesce(pg_catalog.json_agg(pg_catalog.json_build_array(g, p, o) order by g, p),
                               '[]')
      from (select coalesce(pg_catalog.pg_get_userbyid(nullif(a.grantee, 0)), 'PUBLIC') g,
                   a.privilege_type p, a.is_grantable o
            from pg_catalog.aclexplode(coalesce(d.datacl, pg_catalog.acldefault('d', d.datdba))) a) x),
  'settings', (select coalesce(pg_catalog.json_object_agg(coalesce(r.rolname, '*'), s.setconfig), '{}')
      from pg_catalog.pg_db_role_setting s left join pg_catalog.pg_roles r on r.oid = s.setrole
      where s.setdatabase = d.oid))
from pg_catalog.pg_database d where d.datname = pg_catalog.current_database()
"""


def pinned_settings() -> str:
    return " ".join(f"set {name} = {quote_literal(value)};" for name, value in PINNED)


def quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def quote_literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def row_hash(binary: Sequence[str], text: Sequence[str]) -> str:
    """One 64-bit hash of a row: the binary columns through their type's hash (``hash_record_extended``,
    whose combination of columns is linear) seed the hash of the other columns' text, which mixes all
    64 bits of the seed, so swapping values between rows changes the sum. ``binary`` and ``text`` are SQL
    expressions in column-name order."""
    seed = f"pg_catalog.hash_record_extended(row({', '.join(binary)}), 0)" if binary else "0"
    rendered = f"row({', '.join(text)})::text" if text else "''"
    return f"pg_catalog.hashtextextended({rendered}, {seed})"


class Table:
    """A leaf table, the partition tree (or table) it is compared under, and its columns by hashing."""

    def __init__(self, name: str, root: str) -> None:
        self.name, self.root = name, root
        self.binary: list[str] = []
        self.text: list[str] = []

    def statement(self) -> str:
        return (
            f"select pg_catalog.count(*), coalesce(pg_catalog.sum({row_hash(self.binary, self.text)}), 0) "
            f"from only {self.name}"
        )


def in_snapshot(statement: str, snapshot: str | None) -> str:
    if not snapshot:
        return statement
    return (
        "begin isolation level repeatable read; "
        f"set transaction snapshot {quote_literal(snapshot)}; {statement}; commit"
    )


def leaf_tables(conn: Conn, snapshot: str | None = None) -> list[Table]:
    """Every leaf table with its columns, the largest first (so the longest scans start first)."""
    tables: dict[str, Table] = {}
    sizes: dict[str, int] = {}
    for name, root, size, column, base, deterministic in sql(conn, in_snapshot(TABLE_COLUMNS, snapshot)):
        table = tables.setdefault(name, Table(name, root))
        sizes[name] = int(size)
        if not column:
            continue  # a table without columns: its rows are counted, each hashes alike
        quoted = quote_ident(column)
        if base in SENT:
            table.binary.append(f"pg_catalog.{SENT[base]}({quoted})")
        elif base in BINARY and deterministic == "t":
            table.binary.append(quoted)
        else:
            table.text.append(quoted)
    return sorted(tables.values(), key=lambda t: (-sizes[t.name], t.name))


def table_checksums(
    conn: Conn, *, jobs: int = 2, snapshot: str | None = None, workers: int | None = None
) -> dict[str, dict[str, Any]]:
    """Rows and checksum per table or partition tree, ``jobs`` leaf tables at a time, optionally inside an
    exported snapshot (so the numbers describe exactly what ``pg_dump --snapshot`` dumps). ``workers``
    caps the parallel workers per scan (None: the server's setting)."""
    cap = "" if workers is None else f"set max_parallel_workers_per_gather = {int(workers)}; "

    def one(table: Table) -> tuple[Table, int, int]:
        statement = f"{pinned_settings()} {cap}{table.statement()}"
        rows = sql(conn, in_snapshot(statement, snapshot))
        return table, int(rows[0][0]), int(rows[0][1])

    result: dict[str, dict[str, Any]] = {}
    for table, count, checksum in parallel(one, leaf_tables(conn, snapshot), jobs):
        entry = result.setdefault(table.root, {"rows": 0, "checksum": 0, "leaves": 0})
        entry["rows"] += count
        entry["checksum"] += checksum
        entry["leaves"] += 1
    return {name: {**v, "checksum": str(v["checksum"])} for name, v in sorted(result.items())}


SETVAL = re.compile(r"^SELECT pg_catalog\.setval\('((?:[^']|'')+)', (-?\d+), (true|false)\);$", re.M)


def dump_sequences(path: str) -> dict[str, dict[str, Any]]:
    """The position of every sequence as the dump carries it (its SEQUENCE SET entries)."""
    listing = run([tool("pg_restore"), "-l", path], what="pg_restore -l")
    entries = [line for line in listing.splitlines() if " SEQUENCE SET " in line and not line.startswith(";")]
    if not entries:
        return {}
    script = run(
        [tool("pg_restore"), "-f", "-", "-L", "/dev/stdin", path], what="pg_restore", stdin="\n".join(entries)
    )
    return {
        name.replace("''", "'"): {"lastValue": int(value), "isCalled": called == "true"}
        for name, value, called in SETVAL.findall(script)
    }


def restored_sequences(conn: Conn, names: Sequence[str]) -> dict[str, dict[str, Any]]:
    """The restore's position of each named sequence (names as the dump wrote them); absent if missing."""
    if not names:
        return {}
    listed = ", ".join(quote_literal(name) for name in names)
    present = (
        f"select i from unnest(array[{listed}]::text[]) with ordinality t(n, i) "
        "where to_regclass(n) is not null"
    )
    indexes = [int(row[0]) - 1 for row in sql(conn, present)]
    if not indexes:
        return {}
    # Rows are matched by position, not by name: a sequence's name may hold a tab or a newline.
    positions = " union all ".join(f"select {i}, last_value, is_called from {names[i]}" for i in indexes)
    return {
        names[int(i)]: {"lastValue": int(value), "isCalled": called == "t"}
        for i, value, called in sql(conn, positions)
    }


def database_facts(conn: Conn) -> dict[str, Any]:
    return json.loads(sql(conn, DATABASE_FACTS)[0][0])


def compare_tables(want: dict[str, dict[str, Any]], got: dict[str, dict[str, Any]]) -> list[str]:
    """Problems, one sentence each, naming the table; empty when every table matches."""
    problems = []
    for table, expected in sorted(want.items()):
        found = got.get(table)
        if found is None:
            problems.append(f"table {table} is missing from the restore (manifest: {expected['rows']} rows)")
        elif found["rows"] != expected["rows"]:
            problems.append(f"table {table} has {found['rows']} rows restored, manifest {expected['rows']}")
        elif str(found["checksum"]) != str(expected["checksum"]):
            problems.append(f"table {table} checksum differs from the manifest ({expected['rows']} rows)")
    problems += [f"table {t} is in the restore but not in the manifest" for t in sorted(set(got) - set(want))]
    return problems


def compare_sequences(want: dict[str, dict[str, Any]], got: dict[str, dict[str, Any]]) -> list[str]:
    problems = []
    for name, expected in sorted(want.items()):
        found = got.get(name)
        if found is None:
            problems.append(f"sequence {name} is missing from the restore")
        elif found != expected:
            problems.append(
                f"sequence {name} is at {found['lastValue']} (called: {found['isCalled']}), the dump at "
                f"{expected['lastValue']} (called: {expected['isCalled']})"
            )
    return problems


def compare_facts(want: dict[str, Any], got: dict[str, Any]) -> list[str]:
    """Database-level differences, one sentence each (values here are names and settings, not data)."""
    return [
        f"database {key}: restored {got.get(key)!r}, source {want[key]!r}"
        for key in sorted(want)
        if _normal(key, got.get(key)) != _normal(key, want[key])
    ]


def _normal(key: str, value: Any) -> Any:
    if key == "settings" and isinstance(value, dict):
        return {role: sorted(v or []) for role, v in value.items()}
    if key == "privileges" and isinstance(value, list):
        return sorted(value)
    return value


def create_database(conn: Conn, dbname: str, facts: dict[str, Any]) -> list[str]:
    """The restore's database with the source's encoding and locale (what ``pg_dump --create`` would
    bring); with the server's defaults, and a note saying so, when this server lacks that locale."""
    options = [f"template template0 encoding {quote_literal(facts['encoding'])}"]
    if facts.get("localeProvider") == "icu" and facts.get("icuLocale"):
        options.append(f"locale_provider icu icu_locale {quote_literal(facts['icuLocale'])}")
    options.append(f"lc_collate {quote_literal(facts['collate'])} lc_ctype {quote_literal(facts['ctype'])}")
    try:
        sql(conn, f"create database {quote_ident(dbname)} {' '.join(options)}")
        return []
    except PgError as exc:
        sql(conn, f"create database {quote_ident(dbname)}")
        return [f"database created with this server's default locale: {exc}"]


# Settings whose value is a list of names (pg_dump's GUC_LIST_QUOTE): each element is an identifier.
LIST_SETTINGS = ("search_path", "temp_tablespaces", "local_preload_libraries", "session_preload_libraries")


def _setting(entry: str) -> str:
    name, _, value = entry.partition("=")
    if name.lower() in LIST_SETTINGS:
        elements = [e.strip() for e in re.findall(r'(?:"(?:[^"]|"")*"|[^,])+', value)]
        rendered = ", ".join(
            quote_ident(e[1:-1].replace('""', '"') if e.startswith('"') else e) for e in elements
        )
        return f"{quote_ident(name)} = {rendered or quote_literal('')}"
    return f"{quote_ident(name)} = {quote_literal(value)}"


def restore_database_facts(conn: Conn, dbname: str, facts: dict[str, Any]) -> None:
    """Owner, comment, connection limit, privileges and ``ALTER DATABASE ... SET`` (per role too), as the
    source had them. Roles are cluster-wide and not in any dump: missing ones are created NOLOGIN here,
    on the drill's own throwaway server."""
    db = quote_ident(dbname)
    roles = {facts["owner"], *(r for r in facts.get("settings", {}) if r != "*")}
    roles |= {p[0] for p in facts.get("privileges", []) if p[0] != "PUBLIC"}
    statements = [
        f"do $$ begin if not exists (select from pg_roles where rolname = {quote_literal(r)}) then "
        f"create role {quote_ident(r)} nologin; end if; end $$"
        for r in sorted(roles)
    ]
    statements += [
        f"alter database {db} owner to {quote_ident(facts['owner'])}",
        f"alter database {db} connection limit {int(facts.get('connectionLimit', -1))}",
        f"comment on database {db} is "
        + (quote_literal(facts["comment"]) if facts.get("comment") is not None else "null"),
        f"revoke all on database {db} from public",
    ]
    for grantee, privilege, grantable in facts.get("privileges", []):
        who = "public" if grantee == "PUBLIC" else quote_ident(grantee)
        statements.append(
            f"grant {privilege} on database {db} to {who}" + (" with grant option" if grantable else "")
        )
    for role, entries in sorted(facts.get("settings", {}).items()):
        scope = "" if role == "*" else f" in database {db}"
        target = f"alter database {db}" if role == "*" else f"alter role {quote_ident(role)}"
        statements += [f"{target}{scope} set {_setting(e)}" for e in entries or []]
    sql(conn, "; ".join(statements))
