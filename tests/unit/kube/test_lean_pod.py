"""The pods the cache keeps (kube/cache.py `lean_pod`): what placement reads is kept, what it never reads is not,
pods of one template share their repeated parts, and bad input is still reported where it is."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from scheduler.api.fidelity import placement_refusal
from scheduler.engine.state import ClusterState, pod_info
from scheduler.kube.cache import Invalid, apply, lean_pod
from scheduler.kube.inbox import Change
from tests.builders import LEVELS


def body(name: str, image: str = "registry.example/app:1", **spec: Any) -> dict[str, Any]:
    owner = {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "rs", "uid": "rs-1", "controller": True}
    container = {
        "name": "app",
        "image": image,
        "ports": [{"containerPort": 80}, {"containerPort": 81, "hostPort": 8081}],
        "resources": {"requests": {"cpu": "1", "memory": "1Gi"}},
    }
    return {
        "metadata": {"name": name, "namespace": "ml", "labels": {"app": "a"}, "ownerReferences": [owner]},
        "spec": {
            "schedulerName": "phalanx",
            "containers": [container],
            "tolerations": [{"key": "gpu", "operator": "Exists", "effect": "NoSchedule"}],
            "nodeSelector": {"pool": "gpu"},
            "volumes": [
                {"name": "config", "configMap": {"name": "app-config"}},
                {"name": "data", "persistentVolumeClaim": {"claimName": "data"}},
            ],
            **spec,
        },
    }


def test_what_placement_reads_is_kept_and_what_it_never_reads_is_not() -> None:
    pod = lean_pod(body("p"))
    assert pod.requests() == {"cpu": 1000, "memory": 2**30, "pods": 1}
    assert [p.host_port for p in pod.spec.host_ports()] == [8081]
    assert [p.container_port for p in pod.spec.containers[0].ports] == [81]  # the port without a host port goes
    assert "image" not in (pod.spec.containers[0].model_extra or {})
    # The config map's source goes, its name stays, so the claim is still spec.volumes[1] in explanations.
    assert [v.name for v in pod.spec.volumes] == ["config", "data"]
    assert pod.spec.volumes[0].model_extra == {}
    assert pod.spec.volumes[1].persistent_volume_claim is not None
    assert pod.spec.node_selector == {"pool": "gpu"}
    assert [t.key for t in pod.spec.tolerations] == ["gpu"]
    assert pod.metadata.owner_references[0].name == "rs"
    assert pod_info(pod).refused == ""


def test_pods_of_one_template_share_their_repeated_parts_and_other_templates_do_not() -> None:
    first, second, other = lean_pod(body("p-0")), lean_pod(body("p-1")), lean_pod(body("q", image="other:2"))
    assert first.spec.containers[0] is second.spec.containers[0]
    assert first.spec.tolerations[0] is second.spec.tolerations[0]
    assert first.metadata.owner_references[0] is second.metadata.owner_references[0]
    assert other.spec.containers[0] is first.spec.containers[0]  # the image is not kept, so they are alike
    third = lean_pod(body("r", affinity={"nodeAffinity": {}}))
    assert third.spec.affinity is not None
    changed = body("s")
    changed["spec"]["containers"][0]["resources"]["requests"]["cpu"] = "2"
    assert lean_pod(changed).spec.containers[0] is not first.spec.containers[0]


def test_a_field_placement_does_not_model_is_still_refused_by_name() -> None:
    odd = body("p")
    odd["spec"]["containers"][0]["fancyNewPlacementKnob"] = {"on": True}
    pod = lean_pod(odd)
    refusal = placement_refusal(pod)
    assert refusal is not None
    assert "spec.containers[0].fancyNewPlacementKnob" in refusal


def test_a_container_that_does_not_parse_is_reported_where_it_is() -> None:
    bad = body("p")
    bad["spec"]["containers"][0]["resources"]["requests"]["cpu"] = "lots"
    with pytest.raises(ValidationError) as raised:
        lean_pod(bad)
    assert raised.value.errors()[0]["loc"][:3] == ("spec", "containers", 0)
    state, invalid = ClusterState(LEVELS), dict[str, Invalid]()
    apply(state, Change("pod", False, bad), invalid)
    assert invalid["pod/ml/p"].message.startswith("spec.containers.0.resources.requests")
