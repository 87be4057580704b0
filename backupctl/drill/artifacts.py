"""The artifacts index of runbook 2.1 step 4: restore the listing of ``artifacts/`` and compare it with
the bucket.

On AWS the index is the daily S3 Inventory the program delivers to the audit bucket
(``inventory/<bucket>/artifacts-index/<date>/manifest.json`` plus gzipped CSV files). Where no
inventory exists (the local drill), the drill writes a listing snapshot in the same shape first.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
from dataclasses import dataclass, field
from typing import Any

ARTIFACTS_PREFIX = "artifacts/"
INVENTORY_ID = "artifacts-index"
Index = dict[str, dict[str, Any]]  # key -> {"size", "etag"}


def listing(s3: Any, bucket: str, prefix: str = ARTIFACTS_PREFIX) -> Index:
    index: Index = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for obj in page.get("Contents", []):
            index[obj["Key"]] = {"size": int(obj["Size"]), "etag": str(obj["ETag"]).strip('"')}
    return index


def write_listing_snapshot(s3: Any, bucket: str, key: str, index: Index) -> None:
    s3.put_object(
        Bucket=bucket, Key=key, Body=json.dumps({"objects": index}).encode(), ContentType="application/json"
    )


def read_listing_snapshot(s3: Any, bucket: str, key: str) -> Index:
    return json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())["objects"]


def newest_inventory(s3: Any, dest_bucket: str, source_bucket: str) -> tuple[str, Index] | None:
    """The newest S3 Inventory of ``source_bucket`` as an index, with its manifest key; None if none yet."""
    prefix = f"inventory/{source_bucket}/{INVENTORY_ID}/"
    manifests = [
        o["Key"]
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=dest_bucket, Prefix=prefix)
        for o in page.get("Contents", [])
        if o["Key"].endswith("/manifest.json")
    ]
    if not manifests:
        return None
    key = max(manifests)
    manifest = json.loads(s3.get_object(Bucket=dest_bucket, Key=key)["Body"].read())
    columns = [c.strip() for c in manifest["fileSchema"].split(",")]
    index: Index = {}
    for part in manifest.get("files", []):
        raw = s3.get_object(Bucket=dest_bucket, Key=part["key"])["Body"].read()
        for row in csv.reader(io.StringIO(gzip.decompress(raw).decode())):
            record = dict(zip(columns, row, strict=False))
            index[record["Key"]] = {"size": int(record.get("Size") or 0), "etag": record.get("ETag", "")}
    return key, index


@dataclass
class IndexDiff:
    missing: list[str] = field(default_factory=list)  # in the index, gone from the bucket: lost artifacts
    changed: list[str] = field(default_factory=list)
    added: list[str] = field(default_factory=list)  # newer than the index: expected, not a loss

    @property
    def ok(self) -> bool:
        return not self.missing and not self.changed


def compare(index: Index, live: Index) -> IndexDiff:
    diff = IndexDiff()
    for key, want in sorted(index.items()):
        got = live.get(key)
        if got is None:
            diff.missing.append(key)
        elif got["size"] != want["size"] or (want.get("etag") and got["etag"] != want["etag"]):
            diff.changed.append(key)
    diff.added = sorted(set(live) - set(index))
    return diff
