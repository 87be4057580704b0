"""Shared fixtures. The Pulumi program runs under backupctl's mocks (a MockMonitor that records what the
engine would) with the real stack files, once per stack per session."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from backupctl.offline.preview import close_runtime, preview_stack

PROJECT_DIR = Path(__file__).resolve().parent.parent
STACKS = ("staging", "prod")
MOTO_REGION = "eu-west-1"  # both stacks' region


class Deployment:
    """A previewed stack with lookups by type and by URN."""

    def __init__(self, raw: dict[str, Any]) -> None:
        self.raw = raw
        self.resources: list[dict[str, Any]] = raw["deployment"]["resources"]
        self.by_urn = {r["urn"]: r for r in self.resources}

    @property
    def outputs(self) -> dict[str, Any]:
        return self.resources[0]["outputs"]

    def of_type(self, token: str) -> list[dict[str, Any]]:
        found = [r for r in self.resources if r["type"] == token]
        assert found, f"no resource of type {token}"
        return found

    def one(self, token: str, name_contains: str = "") -> dict[str, Any]:
        found = [r for r in self.of_type(token) if name_contains in r["urn"].rsplit("::", 1)[-1]]
        assert len(found) == 1, (
            f"expected one {token} named *{name_contains}*, found {[r['urn'] for r in found]}"
        )
        return found[0]

    def key(self, purpose: str) -> dict[str, Any]:
        """The primary region's customer-managed key of one purpose."""
        found = [
            k
            for k in self.of_type("aws:kms/key:Key")
            if k["inputs"]["tags"]["maestro:key-purpose"] == purpose and "dr-keys" not in k["urn"]
        ]
        assert len(found) == 1, f"expected one {purpose} key, found {len(found)}"
        return found[0]

    def as_stack(
        self, stack: str, *, environment_tags: bool = True, environment_output: bool = True
    ) -> dict[str, Any]:
        """A copy of the export as the stack ``stack`` (every URN renamed), without the program's
        ``environment`` output or the ``maestro:environment`` tags if asked."""
        old = self.raw["deployment"]["resources"][0]["urn"].split("::", 1)[0]
        text = json.dumps(self.raw).replace(f"{old}::", f"urn:pulumi:{stack}::")
        renamed = json.loads(text)
        for r in renamed["deployment"]["resources"]:
            if r["type"] == "pulumi:pulumi:Stack" and not environment_output:
                r["outputs"].pop("environment")
            for props in (r.get("inputs") or {}, r.get("outputs") or {}):
                if not environment_tags and isinstance(props.get("tags"), dict):
                    props["tags"].pop("maestro:environment", None)
        return renamed

    def settings_of_bucket(self, bucket: dict[str, Any], token: str) -> list[dict[str, Any]]:
        return [
            r
            for r in self.resources
            if r["type"] == token and bucket["urn"] in r.get("propertyDependencies", {}).get("bucket", [])
        ]


@pytest.fixture(scope="session")
def deployments() -> Iterator[dict[str, Deployment]]:
    result = {stack: Deployment(preview_stack(PROJECT_DIR, stack)) for stack in STACKS}
    yield result
    close_runtime()


@pytest.fixture(scope="session")
def staging(deployments: dict[str, Deployment]) -> Deployment:
    return deployments["staging"]


@pytest.fixture(scope="session")
def prod(deployments: dict[str, Deployment]) -> Deployment:
    return deployments["prod"]


@pytest.fixture(params=STACKS)
def stack(request: pytest.FixtureRequest, deployments: dict[str, Deployment]) -> Deployment:
    return deployments[request.param]


@pytest.fixture
def project_copy(tmp_path: Path) -> Path:
    """A copy of the Pulumi project whose stack files a test may break."""
    for name in ("Pulumi.yaml", "Pulumi.staging.yaml", "Pulumi.prod.yaml", "__main__.py"):
        shutil.copy(PROJECT_DIR / name, tmp_path / name)
    return tmp_path


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """An empty moto account in the stacks' region; the live tests build the program's account in it."""
    from moto import mock_aws

    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(var, "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", MOTO_REGION)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    with mock_aws():
        yield boto3.Session(region_name=MOTO_REGION)
