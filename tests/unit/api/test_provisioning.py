"""ProvisioningRequest bodies and how their conditions read."""

from __future__ import annotations

from scheduler.api.core import Pod
from scheduler.api.provisioning import (
    DEFAULT_IMAGE,
    ProvisioningState,
    pod_template_body,
    provisioning_request_body,
    read_state,
    request_name,
)

OWNER = {"apiVersion": "scheduling.phalanx.dev/v1alpha1", "kind": "PodGroup", "name": "g", "uid": "u"}


def _conditions(*pairs: tuple[str, str]) -> dict[str, object]:
    return {"status": {"conditions": [{"type": t, "status": s, "message": f"{t} said so"} for t, s in pairs]}}


def test_a_request_without_conditions_is_pending() -> None:
    assert read_state({})[0] is ProvisioningState.PENDING


def test_provisioned_wins_over_accepted() -> None:
    state, message = read_state(_conditions(("Accepted", "True"), ("Provisioned", "True")))
    assert state is ProvisioningState.PROVISIONED
    assert message == "Provisioned said so"


def test_failed_expired_or_revoked_capacity_is_a_failure_whatever_else_is_true() -> None:
    for kind in ("Failed", "BookingExpired", "CapacityRevoked"):
        state, message = read_state(_conditions(("Provisioned", "True"), (kind, "True")))
        assert state is ProvisioningState.FAILED
        assert message.startswith(kind)


def test_a_false_condition_counts_for_nothing() -> None:
    assert read_state(_conditions(("Provisioned", "False")))[0] is ProvisioningState.PENDING


def test_request_names_carry_the_attempt_and_stay_within_the_name_limit() -> None:
    assert request_name("train", 3) == "train-3"
    assert len(request_name("x" * 253, 12)) == 253


def test_a_pod_template_keeps_the_shape_of_the_pod_but_not_its_node_or_name() -> None:
    pod = Pod.model_validate(
        {
            "metadata": {"name": "w-0", "labels": {"app": "w"}},
            "spec": {
                "nodeName": "n1",
                "nodeSelector": {"pool": "gpu"},
                "containers": [{"name": "main", "resources": {"limits": {"nvidia.com/gpu": "4"}}}],
            },
        }
    )
    body = pod_template_body("g-1-0", "ns", "g", pod, OWNER)
    spec = body["template"]["spec"]
    assert "nodeName" not in spec
    assert spec["nodeSelector"] == {"pool": "gpu"}
    assert spec["containers"][0]["image"] == DEFAULT_IMAGE
    assert spec["containers"][0]["resources"]["limits"] == {"nvidia.com/gpu": "4"}
    assert body["metadata"]["ownerReferences"] == [OWNER]


def test_a_request_lists_each_pod_shape_with_its_count() -> None:
    body = provisioning_request_body(
        "g-1", "ns", "g", "check-capacity.autoscaling.x-k8s.io", {}, [("a", 1), ("b", 8)], OWNER
    )
    assert body["spec"]["podSets"] == [
        {"podTemplateRef": {"name": "a"}, "count": 1},
        {"podTemplateRef": {"name": "b"}, "count": 8},
    ]
    assert "parameters" not in body["spec"]
