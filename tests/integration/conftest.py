"""Fixtures for integration tests against a real etcd + kube-apiserver (1.20).

The binaries come from hack/k8s-test-server.sh (built once, cached outside the
repo) unless PHALANX_K8S_BIN points at a directory that already holds them.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes_asyncio import client

from tests.integration.apiserver import ApiServer
from tests.integration.controller_manager import ControllerManager
from tests.integration.operator_harness import api_client_for

HERE = Path(__file__).resolve().parent
BUILD_SCRIPT = HERE.parents[1] / "hack" / "k8s-test-server.sh"

ApiServerFactory = Callable[..., ApiServer]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # This hook sees the whole session's items, so only mark the ones under this dir.
    for item in items:
        if HERE in item.path.parents:
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session")
def k8s_bin_dir(pytestconfig: pytest.Config) -> Path:
    if env := os.environ.get("PHALANX_K8S_BIN"):
        return Path(env)
    # Let the (first-run, several minutes) build show its progress live.
    capture = pytestconfig.pluginmanager.getplugin("capturemanager")
    with capture.global_and_fixture_disabled():
        result = subprocess.run([str(BUILD_SCRIPT)], stdout=subprocess.PIPE, text=True, check=False)
    if result.returncode != 0 or not result.stdout.strip():
        # Fail, never skip: a missing server must not look like a green run.
        pytest.fail(f"{BUILD_SCRIPT} failed (exit {result.returncode}); see its output above", pytrace=False)
    return Path(result.stdout.strip().splitlines()[-1]) / "bin"


@pytest.fixture(scope="session")
def apiserver_factory(k8s_bin_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiServerFactory]:
    """Starts servers, e.g. `apiserver_factory(rbac=True, users=["phalanx"])`; all stop at session end."""
    started: list[ApiServer] = []

    def start(*, rbac: bool = False, users: Sequence[str] = (), upstream_scheduling: bool = False) -> ApiServer:
        server = ApiServer(
            k8s_bin_dir,
            tmp_path_factory.mktemp("apiserver"),
            rbac=rbac,
            users=users,
            upstream_scheduling=upstream_scheduling,
        )
        started.append(server)
        server.start()
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture(scope="session")
def apiserver(apiserver_factory: ApiServerFactory) -> ApiServer:
    """The shared AlwaysAllow server; tests must clean up or use unique names."""
    return apiserver_factory()


@pytest.fixture(scope="module")
def controller_manager(
    k8s_bin_dir: Path, apiserver: ApiServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ControllerManager]:
    """kube-controller-manager on the shared server for one module (Job, ReplicaSet, Deployment, StatefulSet,
    garbage collector, disruption controllers), ready once its controllers answered a probe; request it only
    where a test needs the real controllers. Its log tail is printed, which pytest shows when a test failed."""
    manager = ControllerManager(k8s_bin_dir, apiserver, tmp_path_factory.mktemp("controller-manager"))
    manager.start()
    try:
        yield manager
    finally:
        manager.stop()
        print(manager.log_tail(60))


@pytest.fixture
async def api_client(apiserver: ApiServer) -> AsyncIterator[client.ApiClient]:
    async with api_client_for(apiserver.kubeconfig_path) as api:
        yield api


CRD_DIR = HERE.parents[1] / "crds"


THIRD_PARTY_CRD_DIR = HERE / "thirdparty"


def _read_crds(directory: Path) -> list[dict[str, Any]]:
    return [yaml.safe_load(path.read_text()) for path in sorted(directory.glob("*.yaml"))]


async def install_crds(kubeconfig: Path, wait_s: float = 30.0, directory: Path = CRD_DIR) -> list[str]:
    """Apply every CRD in `directory` (create or replace) and wait until the server reports them Established."""
    names = []
    bodies = _read_crds(directory)
    async with api_client_for(kubeconfig) as api:
        ext: Any = client.ApiextensionsV1Api(api)
        for body in bodies:
            name = body["metadata"]["name"]
            names.append(name)
            try:
                await ext.create_custom_resource_definition(body)
            except client.ApiException as exc:
                if exc.status != 409:
                    raise
                current = await ext.read_custom_resource_definition(name)
                body["metadata"]["resourceVersion"] = current.metadata.resource_version
                await ext.replace_custom_resource_definition(name, body)
        deadline = asyncio.get_running_loop().time() + wait_s
        for name in names:
            while True:
                crd = await ext.read_custom_resource_definition(name)
                conditions = {c.type: c.status for c in (crd.status.conditions or [])}
                if conditions.get("Established") == "True":
                    break
                if asyncio.get_running_loop().time() > deadline:
                    raise TimeoutError(f"CRD {name} not Established: {conditions}")
                await asyncio.sleep(0.1)
    return names


@pytest.fixture(scope="session")
def phalanx_crds(apiserver: ApiServer) -> list[str]:
    """Phalanx's generated CRDs, installed once on the shared server."""
    return asyncio.run(install_crds(apiserver.kubeconfig_path))


@pytest.fixture(scope="session")
def thirdparty_crds(apiserver: ApiServer) -> list[str]:
    """Stand-ins for the JobSet, LeaderWorkerSet and ProvisioningRequest CRDs (tests/integration/thirdparty)."""
    return asyncio.run(install_crds(apiserver.kubeconfig_path, directory=THIRD_PARTY_CRD_DIR))
