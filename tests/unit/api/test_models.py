from typing import Any

import pytest
from pydantic import ValidationError

from scheduler.api.core import Node, Pod
from scheduler.api.fidelity import placement_refusal, without_inert_fields
from scheduler.api.membership import pod_group_of, stamp_pod_groups
from scheduler.api.podgroup import COSCHEDULING_POD_GROUP_LABEL, POD_GROUP_LABEL, PodGroup
from scheduler.api.policy import DisruptionMode, PreemptionPolicy, TopologyMode
from scheduler.api.priority import group_priority
from scheduler.api.workload import Workload


def workload(**template: Any) -> dict[str, Any]:
    base = {"name": "workers", "schedulingPolicy": {"gang": {"minCount": 4}}}
    return {
        "apiVersion": "scheduling.phalanx.dev/v1alpha1",
        "kind": "Workload",
        "metadata": {"name": "train", "namespace": "ml", "uid": "u-1"},
        "spec": {"podGroupTemplates": [{**base, **template}]},
    }


def errors_of(exc: pytest.ExceptionInfo[ValidationError]) -> list[tuple[str, str]]:
    return [(".".join(str(p) for p in e["loc"]), e["msg"]) for e in exc.value.errors()]


def test_a_workload_with_upstream_field_names_round_trips_unchanged() -> None:
    raw = workload(schedulingConstraints={"topology": [{"key": "network.phalanx.dev/rack", "mode": "Preferred"}]})
    parsed = Workload.model_validate(raw)
    template = parsed.spec.pod_group_templates[0]
    assert template.scheduling_policy.min_count == 4
    assert template.scheduling_constraints.topology[0].mode is TopologyMode.PREFERRED
    assert template.disruption_mode is DisruptionMode.POD
    assert template.preemption_policy is PreemptionPolicy.PREEMPT_LOWER_PRIORITY
    wire = parsed.to_wire()
    assert wire["spec"]["podGroupTemplates"][0]["schedulingPolicy"] == {"gang": {"minCount": 4}}
    assert Workload.model_validate(wire) == parsed


def test_min_count_below_one_is_rejected_at_the_field() -> None:
    with pytest.raises(ValidationError) as exc:
        Workload.model_validate(workload(schedulingPolicy={"gang": {"minCount": 0}}))
    loc, msg = errors_of(exc)[0]
    assert loc.endswith("schedulingPolicy.gang.minCount")
    assert "greater than or equal to 1" in msg


def test_a_policy_must_be_exactly_one_of_basic_or_gang() -> None:
    with pytest.raises(ValidationError, match="exactly one of basic or gang"):
        Workload.model_validate(workload(schedulingPolicy={"basic": {}, "gang": {"minCount": 2}}))
    with pytest.raises(ValidationError, match="exactly one of basic or gang"):
        Workload.model_validate(workload(schedulingPolicy={}))


def test_template_names_must_be_unique() -> None:
    raw = workload()
    raw["spec"]["podGroupTemplates"].append(dict(raw["spec"]["podGroupTemplates"][0]))
    with pytest.raises(ValidationError, match="'workers' is used more than once"):
        Workload.model_validate(raw)


def test_template_names_must_be_dns_labels() -> None:
    with pytest.raises(ValidationError) as exc:
        Workload.model_validate(workload(name="Workers_1"))
    assert errors_of(exc)[0][0] == "spec.podGroupTemplates.0.name"


def test_topology_keys_must_be_label_keys_and_unique() -> None:
    with pytest.raises(ValidationError, match="topology key"):
        Workload.model_validate(workload(schedulingConstraints={"topology": [{"key": "bad key"}]}))
    twice = [{"key": "rack"}, {"key": "rack", "mode": "Preferred"}]
    with pytest.raises(ValidationError, match="listed more than once"):
        Workload.model_validate(workload(schedulingConstraints={"topology": twice}))


@pytest.mark.parametrize(
    ("field", "value"),
    [("disruptionMode", "Sometimes"), ("preemptionPolicy", "Always"), ("priority", 2**31), ("replicas", 0)],
)
def test_enums_and_integer_ranges_are_enforced(field: str, value: object) -> None:
    with pytest.raises(ValidationError) as exc:
        Workload.model_validate(workload(**{field: value}))
    assert errors_of(exc)[0][0] == f"spec.podGroupTemplates.0.{field}"


def test_unknown_fields_are_errors_not_silently_dropped() -> None:
    with pytest.raises(ValidationError, match="minMember"):
        Workload.model_validate(workload(schedulingPolicy={"gang": {"minCount": 2, "minMember": 2}}))


def test_a_workload_stamps_out_one_owned_pod_group_per_template_replica() -> None:
    parsed = Workload.model_validate(workload(replicas=3, priority=50, disruptionMode="PodGroup"))
    groups = stamp_pod_groups(parsed)
    assert [g.metadata.name for g in groups] == ["train-workers-0", "train-workers-1", "train-workers-2"]
    for group in groups:
        assert group.metadata.namespace == "ml"
        assert group.metadata.owner_references[0].kind == "Workload"
        assert group.metadata.owner_references[0].uid == "u-1"
        assert group.spec.workload_ref is not None
        assert group.spec.workload_ref.template_name == "workers"
        assert group.spec.priority == 50
        assert group.spec.disruption_mode is DisruptionMode.POD_GROUP
        PodGroup.model_validate(group.to_wire())


def test_pods_join_groups_by_our_label_or_scheduler_plugins_label() -> None:
    ours = Pod.model_validate({"metadata": {"name": "a", "labels": {POD_GROUP_LABEL: "g1"}}})
    theirs = Pod.model_validate({"metadata": {"name": "b", "labels": {COSCHEDULING_POD_GROUP_LABEL: "g2"}}})
    both = Pod.model_validate(
        {"metadata": {"name": "c", "labels": {POD_GROUP_LABEL: "g1", COSCHEDULING_POD_GROUP_LABEL: "g2"}}}
    )
    assert (pod_group_of(ours), pod_group_of(theirs), pod_group_of(both)) == ("g1", "g2", "g1")
    assert pod_group_of(Pod.model_validate({"metadata": {"name": "d"}})) is None


def test_pod_requests_follow_kube_scheduler_rules() -> None:
    pod = Pod.model_validate(
        {
            "metadata": {"name": "p"},
            "spec": {
                "containers": [
                    {"name": "a", "resources": {"requests": {"cpu": "500m", "memory": "1Gi"}}},
                    {"name": "b", "resources": {"limits": {"nvidia.com/gpu": 2}, "requests": {"cpu": "1"}}},
                ],
                "initContainers": [{"name": "init", "resources": {"requests": {"cpu": "4"}}}],
                "overhead": {"memory": "64Mi"},
            },
        }
    )
    assert pod.requests() == {"cpu": 4000, "memory": 2**30 + 64 * 2**20, "nvidia.com/gpu": 2, "pods": 1}


def test_a_node_with_a_malformed_quantity_is_rejected_with_the_value_named() -> None:
    with pytest.raises(ValidationError, match="quantity '12 cores'"):
        Node.model_validate({"metadata": {"name": "n"}, "status": {"allocatable": {"cpu": "12 cores"}}})


def test_group_priority_prefers_explicit_then_class_then_pods() -> None:
    group = PodGroup.model_validate(
        {"metadata": {"name": "g"}, "spec": {"schedulingPolicy": {"basic": {}}, "priorityClassName": "high"}}
    )
    assert group_priority(group.spec, {"high": 1000}) == 1000
    assert group_priority(group.spec, {}) is None
    explicit = group.spec.model_copy(update={"priority": 7})
    assert group_priority(explicit, {"high": 1000}) == 7
    plain = group.spec.model_copy(update={"priority_class_name": None})
    pod = Pod.model_validate({"metadata": {"name": "p"}, "spec": {"priority": 30}})
    assert group_priority(plain, {}, [pod]) == 30


def test_inert_fields_are_dropped_at_the_edge_and_unknown_ones_kept_for_the_refusal() -> None:
    body: dict[str, Any] = {
        "metadata": {"name": "p"},
        "spec": {
            "containers": [{"name": "c", "env": [{"name": "A", "value": "1"}], "livenessProbe": {}, "futureField": 1}],
            "dnsPolicy": "ClusterFirst",
            "resourceClaims": [{"name": "gpu"}],
        },
    }
    slim = without_inert_fields(body)
    assert slim["spec"]["containers"] == [{"name": "c", "futureField": 1}]
    assert "dnsPolicy" not in slim["spec"]
    assert body["spec"]["containers"][0]["env"]  # the caller's body is not changed
    refusal = placement_refusal(Pod.model_validate(slim))
    assert refusal is not None
    assert refusal.startswith("spec.resourceClaims")  # pod-level fields are looked at first
    del slim["spec"]["resourceClaims"]
    unknown = placement_refusal(Pod.model_validate(slim))
    assert unknown is not None
    assert unknown.startswith("spec.containers[0].futureField")
