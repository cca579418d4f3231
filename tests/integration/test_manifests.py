"""The install manifests as users get them: the base and every overlay rendered by a real kustomize (the one in the
kubectl that hack/k8s-test-server.sh caches) and accepted by a real API server authorising with RBAC, and what
each promises: a rollout that can finish, and in the HA overlay two replicas on two nodes, one always available.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.integration.apiserver import ApiServer
from tests.integration.conftest import THIRD_PARTY_CRD_DIR, ApiServerFactory, install_crds

MANIFESTS = Path(__file__).resolve().parents[2] / "manifests"
OVERLAYS = sorted(p.parent for p in (MANIFESTS / "overlays").glob("*/kustomization.yaml"))
KUSTOMIZATIONS = [MANIFESTS, MANIFESTS / "base", *OVERLAYS]
NAMESPACE = "phalanx-system"
# overlays/servicemonitor adds prometheus-operator's kinds; the RBAC server gets stand-ins of their CRDs.
PROMETHEUS_OPERATOR_CRDS = THIRD_PARTY_CRD_DIR / "prometheus-operator"


def folder_id(folder: Path) -> str:
    return str(folder.relative_to(MANIFESTS.parent))


@pytest.fixture(scope="module")
def kubectl(k8s_bin_dir: Path) -> Path:
    path = k8s_bin_dir / "kubectl"
    if not path.is_file():
        pytest.fail(f"{path} is missing: hack/k8s-test-server.sh caches kubectl beside the server", pytrace=False)
    return path


@pytest.fixture(scope="module")
def rbac_server(apiserver_factory: ApiServerFactory) -> ApiServer:
    server = apiserver_factory(rbac=True)
    asyncio.run(install_crds(server.kubeconfig_path, directory=PROMETHEUS_OPERATOR_CRDS))
    return server


def render(kubectl: Path, folder: Path) -> list[dict[str, Any]]:
    """`kubectl kustomize folder`: what `kubectl apply -k folder` sends."""
    result = subprocess.run([str(kubectl), "kustomize", str(folder)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, f"kubectl kustomize {folder_id(folder)}: {result.stderr}"
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


def kubectl_apply(kubectl: Path, server: ApiServer, objects: list[dict[str, Any]], *flags: str) -> list[str]:
    """`kubectl apply -f -` as the admin; returns kubectl's lines, one per object."""
    result = subprocess.run(
        [str(kubectl), "--kubeconfig", str(server.kubeconfig_path), "apply", *flags, "-f", "-"],
        input=yaml.safe_dump_all(objects),
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.splitlines()


def as_served(server: ApiServer, objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The objects in versions `server` serves: a server without policy/v1 (1.20) gets the PodDisruptionBudget as
    policy/v1beta1, whose spec is the same. No version is served both by 1.20 and by 1.25+, and the overlay is
    written for today's clusters (manifests/overlays/ha/pdb.yaml)."""
    versions = {v["version"] for v in (server.request("GET", "/apis/policy") or {}).get("versions", [])}
    if "v1" in versions:
        return objects
    assert "v1beta1" in versions
    return [
        {**o, "apiVersion": "policy/v1beta1"}
        if (o["apiVersion"], o["kind"]) == ("policy/v1", "PodDisruptionBudget")
        else o
        for o in objects
    ]


def the(objects: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    (found,) = [o for o in objects if o["kind"] == kind]
    return found


def names(objects: list[dict[str, Any]]) -> set[tuple[str, str]]:
    return {(o["kind"], o["metadata"]["name"]) for o in objects}


@pytest.mark.parametrize("folder", KUSTOMIZATIONS, ids=folder_id)
def test_every_kustomization_renders_with_the_kubectl_the_tests_cache(kubectl: Path, folder: Path) -> None:
    objects = render(kubectl, folder)
    assert {"CustomResourceDefinition", "Namespace", "ClusterRole", "Deployment", "Service"} <= {
        o["kind"] for o in objects
    }
    namespaced = [o for o in objects if o["kind"] not in ("CustomResourceDefinition", "Namespace")]
    assert {o["metadata"].get("namespace") for o in namespaced if not o["kind"].startswith("Cluster")} == {NAMESPACE}


def test_the_manifests_folder_installs_exactly_the_base(kubectl: Path) -> None:
    assert render(kubectl, MANIFESTS) == render(kubectl, MANIFESTS / "base")


@pytest.mark.parametrize("overlay", OVERLAYS, ids=folder_id)
def test_every_overlay_installs_the_whole_base_and_adds_to_it(kubectl: Path, overlay: Path) -> None:
    assert names(render(kubectl, overlay)) >= names(render(kubectl, MANIFESTS / "base"))


@pytest.mark.parametrize("folder", KUSTOMIZATIONS, ids=folder_id)
def test_every_rendered_object_is_accepted_by_an_api_server_authorising_with_rbac(
    kubectl: Path, rbac_server: ApiServer, folder: Path
) -> None:
    objects = as_served(rbac_server, render(kubectl, folder))
    kubectl_apply(kubectl, rbac_server, [the(objects, "Namespace")])  # namespaced dry runs need it to exist
    lines = kubectl_apply(kubectl, rbac_server, objects, "--dry-run=server")
    assert len(lines) == len(objects), lines
    for line in lines:
        assert line.endswith("(server dry run)"), line


def test_the_base_rolls_out_with_a_surge_because_a_standby_turns_ready(kubectl: Path) -> None:
    objects = render(kubectl, MANIFESTS / "base")
    deployment = the(objects, "Deployment")
    assert deployment["spec"]["replicas"] == 1
    assert deployment["spec"]["strategy"] == {
        "type": "RollingUpdate",
        "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0},
    }
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert "PodDisruptionBudget" not in {o["kind"] for o in objects}  # minAvailable 1 of 1 would block every drain
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert deployment["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()
    assert the(objects, "Service")["spec"]["selector"].items() <= pod_labels.items()


def test_the_ha_overlay_runs_two_replicas_on_two_nodes_and_keeps_one_available(kubectl: Path) -> None:
    objects = render(kubectl, MANIFESTS / "overlays" / "ha")
    deployment = the(objects, "Deployment")
    spec = deployment["spec"]
    pod_labels = spec["template"]["metadata"]["labels"]
    assert spec["replicas"] == 2
    # No surge: a third pod would need a third node under the required anti-affinity.
    assert spec["strategy"]["rollingUpdate"] == {"maxSurge": 0, "maxUnavailable": 1}
    (term,) = spec["template"]["spec"]["affinity"]["podAntiAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
    assert term["topologyKey"] == "kubernetes.io/hostname"
    assert term["labelSelector"]["matchLabels"].items() <= pod_labels.items()
    budget = the(objects, "PodDisruptionBudget")
    assert budget["metadata"]["namespace"] == NAMESPACE
    assert budget["spec"]["minAvailable"] == 1
    assert budget["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()


def test_the_servicemonitor_overlay_adds_what_prometheus_operator_reads_and_the_server_keeps_every_field(
    kubectl: Path, rbac_server: ApiServer
) -> None:
    objects = render(kubectl, MANIFESTS / "overlays" / "servicemonitor")
    monitor, rules = the(objects, "ServiceMonitor"), the(objects, "PrometheusRule")
    service = the(objects, "Service")
    assert monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    assert [e["port"] for e in monitor["spec"]["endpoints"]] == [p["name"] for p in service["spec"]["ports"]]
    (dashboard,) = [o for o in objects if o["metadata"]["name"] == "phalanx-dashboard"]
    assert dashboard["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert json.loads(dashboard["data"]["phalanx.json"])["uid"] == "phalanx-scheduler"
    kubectl_apply(kubectl, rbac_server, [the(objects, "Namespace")])
    command = [str(kubectl), "--kubeconfig", str(rbac_server.kubeconfig_path), "apply", "--dry-run=server"]
    result = subprocess.run(
        [*command, "-o", "json", "-f", "-"],
        input=yaml.safe_dump_all([monitor, rules]),
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    served = json.loads(result.stdout)["items"]
    # A field the (stand-in) schema does not know would be pruned without a word: nothing may be.
    assert [o["spec"] for o in served] == [monitor["spec"], rules["spec"]]
