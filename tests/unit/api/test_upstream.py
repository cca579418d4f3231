"""Reading upstream's and coscheduling's PodGroups into ours, and our own CRD's two upstream spellings."""

from __future__ import annotations

import json
import runpy
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from scheduler.api.core import Pod
from scheduler.api.fidelity import placement_refusal, without_inert_fields
from scheduler.api.membership import pod_group_of
from scheduler.api.podgroup import POD_GROUP_SCHEDULED, PodGroup
from scheduler.api.policy import (
    PREFERRED_TOPOLOGY_ANNOTATION,
    DisruptionMode,
    PreemptionPolicy,
    TopologyMode,
)
from scheduler.api.upstream import INITIALLY_SCHEDULED, STATUS_ANNOTATION, UpstreamWorkload, read_pod_group


def upstream(version: str, spec: dict[str, Any], **metadata: Any) -> dict[str, Any]:
    return {
        "apiVersion": f"scheduling.k8s.io/{version}",
        "kind": "PodGroup",
        "metadata": {"name": "train", "namespace": "ml", **metadata},
        "spec": spec,
    }


GANG = {"gang": {"minCount": 4}}


def test_a_136_podgroup_reads_its_string_disruption_mode_and_its_template_reference() -> None:
    group = read_pod_group(
        upstream(
            "v1alpha2",
            {
                "podGroupTemplateRef": {"workload": {"workloadName": "w", "podGroupTemplateName": "workers"}},
                "schedulingPolicy": GANG,
                "schedulingConstraints": {"topology": [{"key": "topology.kubernetes.io/zone"}]},
                "disruptionMode": "PodGroup",
                "priorityClassName": "high",
                "priority": 1000,
            },
        )
    )
    assert group.spec.scheduling_policy.min_count == 4
    assert group.spec.disruption_mode is DisruptionMode.POD_GROUP
    assert group.spec.template is not None
    assert group.spec.template.template_name == "workers"
    assert [(c.key, c.mode) for c in group.spec.scheduling_constraints.topology] == [
        ("topology.kubernetes.io/zone", TopologyMode.REQUIRED)
    ]
    assert (group.spec.priority_class_name, group.spec.priority) == ("high", 1000)
    assert group.origin is not None
    assert group.origin.condition == POD_GROUP_SCHEDULED


def test_a_137_podgroup_reads_its_union_disruption_mode_workload_ref_and_preemption_policy() -> None:
    group = read_pod_group(
        upstream(
            "v1beta1",
            {
                "workloadRef": {"workloadName": "w", "templateName": "workers"},
                "schedulingPolicy": GANG,
                "disruptionMode": {"all": {}},
                "preemptionPolicy": "Never",
            },
        )
    )
    assert group.spec.disruption_mode is DisruptionMode.POD_GROUP
    assert group.spec.preemption_policy is PreemptionPolicy.NEVER
    assert group.spec.template is not None
    assert group.spec.template.workload_name == "w"
    assert group.origin is not None
    assert group.origin.condition == INITIALLY_SCHEDULED
    assert group.origin.uniform_pods


def test_a_server_filled_single_disruption_mode_means_pod_by_pod() -> None:
    group = read_pod_group(upstream("v1alpha3", {"schedulingPolicy": GANG, "disruptionMode": {"single": {}}}))
    assert group.spec.disruption_mode is DisruptionMode.POD


def test_nulls_a_server_writes_for_fields_without_omitempty_are_accepted() -> None:
    group = read_pod_group(upstream("v1alpha2", {"podGroupTemplateRef": None, "schedulingPolicy": {"basic": {}}}))
    assert group.spec.scheduling_policy.basic is not None
    assert group.origin is not None
    assert not group.origin.refusal


def test_preferred_topology_is_asked_for_with_our_annotation_after_upstreams_required_key() -> None:
    spec = {"schedulingPolicy": GANG, "schedulingConstraints": {"topology": [{"key": "zone"}]}}
    group = read_pod_group(upstream("v1beta1", spec, annotations={PREFERRED_TOPOLOGY_ANNOTATION: "rack"}))
    assert [(c.key, c.mode) for c in group.spec.scheduling_constraints.topology] == [
        ("zone", TopologyMode.REQUIRED),
        ("rack", TopologyMode.PREFERRED),
    ]


def test_our_status_is_read_back_from_the_annotation_and_a_garbled_one_is_ignored() -> None:
    status = '{"phase": "Running", "scheduled": 4, "running": 4}'
    group = read_pod_group(upstream("v1beta1", {"schedulingPolicy": GANG}, annotations={STATUS_ANNOTATION: status}))
    assert group.status is not None
    assert group.status.running == 4
    garbled = read_pod_group(upstream("v1beta1", {"schedulingPolicy": GANG}, annotations={STATUS_ANNOTATION: "{"}))
    assert garbled.status is None


def test_a_malformed_group_fails_validation_rather_than_being_refused_silently() -> None:
    with pytest.raises(ValidationError):
        read_pod_group(upstream("v1beta1", {"schedulingPolicy": {"gang": {"minCount": 0}}}))
    with pytest.raises(ValidationError):
        read_pod_group(upstream("v1beta1", {"schedulingPolicy": {"basic": {}, "gang": {"minCount": 2}}}))
    with pytest.raises(ValidationError):
        read_pod_group(upstream("v1beta1", {"schedulingPolicy": GANG, "disruptionMode": {"most": {}}}))


def test_unknown_api_versions_are_not_read_as_podgroups() -> None:
    with pytest.raises(ValueError, match="not a PodGroup API"):
        read_pod_group(upstream("v1alpha1", {"schedulingPolicy": GANG}))


def test_a_coscheduling_podgroup_becomes_a_gang_of_min_member_with_min_resources() -> None:
    body = {
        "apiVersion": "scheduling.x-k8s.io/v1alpha1",
        "kind": "PodGroup",
        "metadata": {"name": "train", "namespace": "ml"},
        "spec": {"minMember": 3, "minResources": {"cpu": "6"}, "scheduleTimeoutSeconds": 10},
    }
    group = read_pod_group(body)
    assert group.spec.scheduling_policy.min_count == 3
    assert group.spec.min_resources == {"cpu": "6"}
    assert group.origin is not None
    assert group.origin.condition is None
    assert not group.origin.refusal


def test_our_podgroup_accepts_both_upstream_spellings_of_disruption_mode_and_back_reference() -> None:
    for mode, spelled in (("PodGroup", DisruptionMode.POD_GROUP), ({"all": {}}, DisruptionMode.POD_GROUP)):
        group = PodGroup.model_validate(
            {
                "metadata": {"name": "g"},
                "spec": {
                    "schedulingPolicy": GANG,
                    "disruptionMode": mode,
                    "podGroupTemplateRef": {"workload": {"workloadName": "w", "podGroupTemplateName": "t"}},
                },
            }
        )
        assert group.spec.disruption_mode is spelled
        assert group.spec.template is not None
        assert (
            group.spec.template.workload_name,
            group.spec.template.template_name,
        ) == ("w", "t")


def test_our_podgroup_refuses_two_back_references_that_disagree() -> None:
    with pytest.raises(ValidationError, match="different templates"):
        PodGroup.model_validate(
            {
                "metadata": {"name": "g"},
                "spec": {
                    "schedulingPolicy": GANG,
                    "workloadRef": {"workloadName": "w", "templateName": "a"},
                    "podGroupTemplateRef": {"workload": {"workloadName": "w", "podGroupTemplateName": "b"}},
                },
            }
        )


def _pod(spec: dict[str, Any], labels: dict[str, str] | None = None) -> Pod:
    return Pod.model_validate({"metadata": {"name": "p", "labels": labels or {}}, "spec": {"containers": [], **spec}})


def test_a_pods_scheduling_group_comes_before_our_label_and_coscheduling_s() -> None:
    pod = _pod({"schedulingGroup": {"podGroupName": "upstream"}}, {"scheduling.phalanx.dev/pod-group": "ours"})
    assert pod_group_of(pod) == "upstream"
    assert placement_refusal(pod) is None


def test_a_scheduling_group_member_a_newer_release_adds_refuses_the_pod_naming_it() -> None:
    pod = _pod({"schedulingGroup": {"podSubGroupName": "x"}})
    refusal = placement_refusal(pod)
    assert refusal is not None
    assert refusal.startswith("spec.schedulingGroup.podSubGroupName")


def test_135s_workload_ref_on_a_pod_is_refused_naming_what_replaced_it() -> None:
    refusal = placement_refusal(_pod({"workloadRef": {"name": "w", "podGroup": "g"}}))
    assert refusal is not None
    assert "schedulingGroup" in refusal


RECORDED = Path(__file__).parent / "upstream_objects"


@pytest.mark.parametrize("path", sorted(RECORDED.glob("*/podgroup.*.json")), ids=lambda p: f"{p.parent.name}/{p.name}")
def test_every_recorded_podgroup_reads_as_a_group_of_ours_with_nothing_refused(path: Path) -> None:
    body = json.loads(path.read_text())
    group = read_pod_group(body)
    assert group.origin is not None
    assert group.origin.refusal == ""
    assert group.metadata.name == body["metadata"]["name"]
    policy = body["spec"].get("schedulingPolicy") or {}
    want = (policy.get("gang") or {}).get("minCount") or body["spec"].get("minMember") or 1
    assert group.spec.scheduling_policy.min_count == want


@pytest.mark.parametrize("release", ["1.36", "1.37"])
def test_a_recorded_pod_of_each_release_joins_its_podgroup_and_is_not_refused(release: str) -> None:
    body = json.loads((RECORDED / release / "pod.json").read_text())
    pod = Pod.model_validate(without_inert_fields(body))
    assert pod_group_of(pod) == body["spec"]["schedulingGroup"]["podGroupName"]
    assert placement_refusal(pod) is None


@pytest.mark.parametrize("path", sorted(RECORDED.glob("*/workload.*.json")), ids=lambda p: p.name)
def test_every_recorded_workload_reads_with_its_templates(path: Path) -> None:
    body = json.loads(path.read_text())
    workload = UpstreamWorkload.model_validate(body)
    assert workload.spec.pod_group_templates
    assert [t.name for t in workload.spec.pod_group_templates] == [t["name"] for t in body["spec"]["podGroupTemplates"]]


def test_the_test_servers_copies_of_upstreams_types_are_what_the_generator_writes(tmp_path: Path) -> None:
    root = Path(__file__).resolve().parents[3]
    generator = runpy.run_path(str(root / "hack" / "upstream-test-crds.py"))
    generator["main"](tmp_path)
    committed = root / "tests" / "integration" / "thirdparty" / "scheduling.k8s.io"
    for written in sorted(tmp_path.glob("*.yaml")):
        assert written.read_text() == (committed / written.name).read_text(), written.name
    assert {p.name for p in tmp_path.glob("*.yaml")} == {p.name for p in committed.glob("*.yaml")}
