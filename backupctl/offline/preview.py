"""Offline preview: run the Pulumi program under mocks with a stack's config, record a deployment.

The result has the shape of ``pulumi stack export`` (version 3): ``deployment.resources[]`` with
``urn``, ``type``, ``custom``, ``id``, ``parent``, ``dependencies``, ``propertyDependencies``,
``inputs``, ``outputs``, ``protect``, ``retainOnDelete`` (and ``ignoreChanges`` where set), the root
stack first with the exports.
Several stacks can be previewed in one process; each gets a fresh runtime and root stack.

Speed: ``import pulumi_aws.s3`` runs that package's ``__init__``, which imports every one of its ~70
resource modules; the program uses a few. Offline, each pulumi_aws service package is replaced by a
``LazyPackage`` that imports a resource module when the program first names one of its classes (the same
class objects, so the program is unchanged); under the real engine the program imports as usual.

Scale: the SDK's ``wait_for_rpcs`` (pulumi 3.272.0, ``runtime/stack.py``) waits for outstanding outputs
with ``asyncio.wait(FIRST_COMPLETED)`` on all of them, again after every completion: a quadratic number
of callbacks, 40% of a 200-database preview; and full garbage collections walk the preview's growing
heap again and again. Offline, ``quiescence`` waits for each batch once and pauses the cyclic collector.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import importlib
import importlib.util
import re
import runpy
import sys
import types
from collections import Counter
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, NoReturn

import pulumi
import pulumi_aws
from google.protobuf import empty_pb2
from pulumi.runtime import mocks as pulumi_mocks
from pulumi.runtime import rpc, settings
from pulumi.runtime import stack as pulumi_stack
from pulumi.runtime.stack import run_in_stack
from pulumi.runtime.sync_await import _sync_await

from backupctl.errors import BadInput
from backupctl.offline.mocks import DEFAULT_ACCOUNT, AwsMocks
from backupctl.offline.stackconfig import StackConfig, load_stack_config

# The signatures `pulumi stack export` marks assets and archives with (sdk/go/common/resource/sig).
SPECIAL_SIG = "4dabf18193072939515e22adb298388d"
ASSET_SIG = "c44067f5952c0a294b673a41bacd8c17"
ARCHIVE_SIG = "0def7320c3a5731c473e5ecbe6d01bc7"
_ACCOUNT_RE = re.compile(r"arn:aws[a-z-]*:iam::(\d{12}):")


def _snake(name: str) -> str:
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name).lower()


class LazyPackage(types.ModuleType):
    """A pulumi_aws service package whose attributes are imported one resource module at a time:
    ``Bucket`` from ``bucket.py``, ``BucketVersioningArgs`` from ``bucket_versioning.py`` (or
    ``_inputs.py``), ``get_policy_document_output`` from ``get_policy_document.py``; anything else loads
    the package's real ``__init__`` into this module, so every name still resolves."""

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        base = re.sub(r"_output$", "", re.sub(r"(Args|ArgsDict)$", "", name))
        for module in dict.fromkeys((name, _snake(base), "_inputs", "outputs", "_enums")):
            full = f"{self.__name__}.{module}"
            if importlib.util.find_spec(full) is None:
                continue
            loaded = importlib.import_module(full)
            value = loaded if module == name else getattr(loaded, name, None)
            if value is not None:
                setattr(self, name, value)
                return value
        self._load_everything()
        return self.__dict__[name] if name in self.__dict__ else super().__getattribute__(name)

    def _load_everything(self) -> None:
        spec = importlib.util.spec_from_file_location(
            self.__name__, f"{self.__path__[0]}/__init__.py", submodule_search_locations=list(self.__path__)
        )
        if spec is not None and spec.loader is not None:
            spec.loader.exec_module(self)


def install_lazy_packages() -> None:
    """Replace every not-yet-loaded pulumi_aws service package with a LazyPackage."""
    root = Path(pulumi_aws.__path__[0])
    for entry in root.iterdir():
        name = f"pulumi_aws.{entry.name}"
        if not (entry / "__init__.py").is_file() or isinstance(sys.modules.get(name), LazyPackage):
            continue
        current = sys.modules.get(name)
        if current is not None and type(current).__name__ != "_LazyModule":
            continue  # already imported for real (not just the root's lazy placeholder): keep it
        package = LazyPackage(name)
        package.__path__ = [str(entry)]
        package.__package__ = name
        package.__spec__ = importlib.util.spec_from_loader(name, loader=None, is_package=True)
        package.__spec__.submodule_search_locations = package.__path__  # type: ignore[union-attr]
        sys.modules[name] = package
        setattr(pulumi_aws, entry.name, package)


install_lazy_packages()


def _no_stack_traces() -> None:
    """Pulumi records the Python stack of every resource registration for the engine's messages; the
    mocks never read it, and walking the stack is a twentieth of a preview."""
    from pulumi.runtime import resource as runtime_resource  # noqa: PLC0415
    from pulumi.runtime.proto import source_pb2  # noqa: PLC0415

    if hasattr(runtime_resource, "_get_stack_trace"):
        runtime_resource._get_stack_trace = source_pb2.StackTrace  # type: ignore[attr-defined]


_no_stack_traces()


def _plain(value: Any) -> Any:
    """Deserialized properties to JSON as `pulumi stack export` writes them (archives by signature)."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, pulumi.AssetArchive):
        return {SPECIAL_SIG: ARCHIVE_SIG, "assets": {k: _plain(v) for k, v in sorted(value.assets.items())}}
    if isinstance(value, pulumi.Archive):
        return {SPECIAL_SIG: ARCHIVE_SIG, "path": getattr(value, "path", "")}
    if isinstance(value, pulumi.Asset):
        return {SPECIAL_SIG: ASSET_SIG, "path": getattr(value, "path", "")}
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


class RecordingMonitor(pulumi_mocks.MockMonitor):
    """A mock monitor that also keeps what the engine would: parents, dependencies, options, outputs."""

    def __init__(self, mocks: pulumi.runtime.Mocks) -> None:
        super().__init__(mocks)
        self.records: dict[str, dict[str, Any]] = {}
        self.stack_outputs: dict[str, Any] = {}
        self.root_urn = ""

    def make_urn(self, parent: str, type_: str, name: str) -> str:
        """URNs as the engine makes them: the whole parent type chain, the root stack left out."""
        if parent and "::pulumi:pulumi:Stack::" not in parent:
            type_ = parent.split("::")[2] + "$" + type_
        return "urn:pulumi:" + "::".join([pulumi.get_stack(), pulumi.get_project(), type_, name])

    def RegisterResource(self, request: Any) -> Any:
        response = super().RegisterResource(request)
        inputs = rpc.deserialize_properties(request.object)
        record: dict[str, Any] = {
            "urn": response.urn,
            "custom": bool(request.custom),
            "type": request.type,
            "inputs": _plain(inputs),
            "outputs": {},
            "parent": request.parent or None,
            "dependencies": sorted(set(request.dependencies)),
            "propertyDependencies": {k: sorted(set(v.urns)) for k, v in request.propertyDependencies.items()},
            "protect": bool(request.protect),
            "retainOnDelete": bool(request.retainOnDelete),
        }
        if request.ignoreChanges:  # as the engine keeps it in state, so checks can see what is ignored
            record["ignoreChanges"] = sorted(request.ignoreChanges)
        if request.type == "pulumi:pulumi:Stack":
            self.root_urn = response.urn
            record["parent"] = None
        else:
            registration = self.resources.get(response.urn)
            if registration is not None and request.custom:
                record["id"] = registration.id
                record["outputs"] = _plain(registration.state)
            if request.importId:
                record["importId"] = request.importId
        self.records[response.urn] = record
        return response

    def RegisterResourceOutputs(self, request: Any) -> Any:
        if request.urn == self.root_urn:
            self.stack_outputs = _plain(rpc.deserialize_properties(request.outputs))
        return empty_pb2.Empty()


def _account_of(values: Mapping[str, str]) -> str:
    for value in values.values():
        match = _ACCOUNT_RE.search(value)
        if match:
            return match.group(1)
    return DEFAULT_ACCOUNT


def run_stack(config: StackConfig) -> dict[str, Any]:
    """Run the program of ``config`` under mocks and return a `pulumi stack export`-shaped deployment."""
    region = config.values.get("aws:region", "us-east-1")
    _fresh_event_loop()
    monitor = RecordingMonitor(AwsMocks(_account_of(config.values), region))
    mock_settings = pulumi_mocks.MockSettings(
        monitor=monitor,
        monitor_features=set(monitor.GetDeploymentInfo(empty_pb2.Empty()).supportedFeatures),
        engine=pulumi_mocks.MockEngine(None),
        project=config.project,
        stack=config.stack,
        dry_run=True,
        organization="organization",
        callbacks=None,
    )
    settings.configure(mock_settings)
    settings.ROOT.set(None)  # a fresh root stack per preview (set_mocks only makes one per process)
    pulumi.runtime.set_all_config(dict(config.values), list(config.secret_keys))
    project_dir = str(config.project_dir)
    if project_dir not in sys.path:
        sys.path.insert(0, project_dir)

    def program() -> None:
        runpy.run_path(str(config.main), run_name="__main__")

    try:
        with quiescence():
            _sync_await(run_in_stack(program))
    except pulumi.RunError as exc:
        raise BadInput.message(f"{_blame(config, str(exc))}: {exc}") from None
    resources = sorted(monitor.records.values(), key=lambda r: (r["type"] != "pulumi:pulumi:Stack", r["urn"]))
    for resource in resources:
        if resource["type"] == "pulumi:pulumi:Stack":
            resource["outputs"] = monitor.stack_outputs
    return {
        "version": 3,
        "deployment": {
            "manifest": {
                "time": "1970-01-01T00:00:00Z",
                "magic": "",
                "version": f"backupctl-preview/{pulumi.__name__}",
            },
            "resources": resources,
        },
    }


def _raise_rpc_failure(exn: Exception) -> NoReturn:
    manager = settings._get_rpc_manager()  # the SDK's own bookkeeping, read as its wait_for_rpcs reads it
    if manager.unhandled_exception is not None:
        raise exn from manager.unhandled_exception.with_traceback(manager.exception_traceback)
    raise exn


async def wait_for_rpcs_linear(await_all_outstanding_tasks: bool = True) -> None:
    """``pulumi.runtime.stack.wait_for_rpcs`` with one wait per batch of outputs instead of one per output.

    The same steps and errors as the SDK's: drain the RPCs, re-raise a failed one with its cause; then wait
    for the outstanding outputs, raising the first failure as soon as it happens (``FIRST_EXCEPTION``, where
    the SDK re-waits ``FIRST_COMPLETED`` on all of them after each one); repeat while new RPCs appear.
    """
    manager = settings._get_rpc_manager()
    state: Any = settings.SETTINGS  # its context-variable properties do not type-check
    while True:
        while manager.rpcs:
            await asyncio.sleep(0)
            try:
                await manager.rpcs.pop()
            except Exception as exn:  # re-raised with the SDK's recorded cause
                _raise_rpc_failure(exn)
        if manager.unhandled_exception is not None:
            raise manager.unhandled_exception.with_traceback(manager.exception_traceback)
        while await_all_outstanding_tasks:
            with state.lock:
                pending = list(state.outputs)
                state.outputs.clear()
            if not pending:
                break
            done, not_done = await asyncio.wait(pending, return_when=asyncio.FIRST_EXCEPTION)
            for task in done:
                await task
            with state.lock:
                state.outputs.update(not_done)
        if not manager.rpcs:
            return


@contextlib.contextmanager
def quiescence() -> Iterator[None]:
    """While a preview runs: ``wait_for_rpcs_linear`` in place of the SDK's loop, and no cyclic garbage
    collection (the preview's objects live until it ends, so each full collection walks a heap that only
    grows: 1.2 s of a 200-database preview; pausing it costs about 3% more peak memory). Both restored after.
    """
    saved, was_enabled = pulumi_stack.wait_for_rpcs, gc.isenabled()
    pulumi_stack.wait_for_rpcs = wait_for_rpcs_linear
    gc.disable()
    try:
        yield
    finally:
        pulumi_stack.wait_for_rpcs = saved
        if was_enabled:
            gc.enable()


def _blame(config: StackConfig, message: str) -> str:
    """The file whose value the program refused: the stack file, or Pulumi.yaml for a bad default."""
    key = message.split(": ", 1)[0]
    base = key.split("[", 1)[0].split(".", 1)[0]  # databases[0].name -> databases
    return config.origin(base if ":" in base else f"{config.project}:{base}")


def preview_stack(project_dir: Path, stack: str) -> dict[str, Any]:
    return run_stack(load_stack_config(project_dir, stack))


def _fresh_event_loop() -> None:
    try:
        loop = asyncio.get_event_loop()
    except RuntimeError:
        loop = None
    if loop is None or loop.is_closed():
        asyncio.set_event_loop(asyncio.new_event_loop())


def close_runtime() -> None:
    """Close the mock runtime's event loop so interpreter exit prints nothing alarming."""
    try:
        loop = asyncio.get_event_loop()
    except RuntimeError:
        return
    if not loop.is_closed():
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()


def summarize(deployment: dict[str, Any]) -> dict[str, Any]:
    """What `backupctl preview` prints of a deployment: counts per component and the key settings."""
    resources = deployment["deployment"]["resources"]
    by_component: Counter[str] = Counter()
    for r in resources:
        if r.get("custom") and r.get("parent"):
            parent_type = r["parent"].split("::")[2].split("$")[-1]
            by_component[parent_type] += 1
    outputs = resources[0].get("outputs", {}) if resources else {}
    return {
        "resources": sum(1 for r in resources if r.get("custom")),
        "components": sum(1 for r in resources if not r.get("custom")),
        "byComponent": dict(sorted(by_component.items())),
        "environment": outputs.get("environment"),
        "region": outputs.get("region"),
        "databases": [
            f"{d['identifier']} ({d['criticality']}, RPO {d['rpoMinutes']} min, RTO {d['rtoMinutes']} min)"
            for d in outputs.get("databases", [])
        ],
        "vault": outputs.get("vaultName"),
        "evidenceLock": f"{outputs.get('evidenceLockMode')} {outputs.get('evidenceLockDays')} days",
        "buckets": [
            outputs.get(k) for k in ("artifactsBucket", "evidenceBucket", "configBucket", "auditBucket")
        ],
    }
