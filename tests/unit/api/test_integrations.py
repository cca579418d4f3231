"""Which controller objects become gangs, and with what Workload."""

from __future__ import annotations

from scheduler.api.integrations import (
    GANG_ANNOTATION,
    GANG_SCOPE_ANNOTATION,
    left_to_upstream,
    record_for,
    workload_name,
)
from scheduler.api.policy import REQUIRED_TOPOLOGY_ANNOTATION, DisruptionMode, TopologyMode
from tests.controllers import job_body, jobset_body, lws_body, owner_ref, pod_template


def _templates(body: dict[str, object]) -> list[tuple[str, int, int]]:
    record = record_for(body, "phalanx")
    assert record.gang is not None, record.note
    return [(t.name, t.scheduling_policy.min_count, t.replicas) for t in record.gang.workload.spec.pod_group_templates]


def test_an_indexed_job_with_parallelism_above_one_is_one_gang_of_its_parallelism() -> None:
    record = record_for(job_body("train", 4), "phalanx")
    assert record.gang is not None
    workload = record.gang.workload
    assert workload.metadata.name == "train-job"
    assert [name for _, name in workload.pod_group_names()] == ["train-job-gang"]
    template = workload.spec.pod_group_templates[0]
    assert template.scheduling_policy.min_count == 4
    assert template.disruption_mode is DisruptionMode.POD_GROUP
    assert workload.spec.controller_ref is not None
    assert workload.spec.controller_ref.kind == "Job"


def test_a_job_running_fewer_pods_than_its_parallelism_gangs_only_what_runs_at_once() -> None:
    assert _templates(job_body("train", 8, completions=3)) == [("gang", 3, 1)]


def test_a_job_with_parallelism_one_is_left_alone() -> None:
    record = record_for(job_body("once", 1), "phalanx")
    assert record.gang is None
    assert not record.integrated
    assert "1 pod(s) at a time" in record.note


def test_a_non_indexed_job_is_a_gang_only_when_it_opts_in() -> None:
    assert record_for(job_body("plain", 4, indexed=False), "phalanx").gang is None
    opted = job_body("plain", 4, indexed=False, annotations={GANG_ANNOTATION: "true"})
    assert _templates(opted) == [("gang", 4, 1)]


def test_the_opt_out_annotation_disables_the_gang() -> None:
    assert record_for(job_body("train", 4, annotations={GANG_ANNOTATION: "false"}), "phalanx").gang is None


def test_a_job_for_another_scheduler_is_left_alone() -> None:
    body = job_body("train", 4, template=pod_template(scheduler="default-scheduler"))
    assert record_for(body, "phalanx").gang is None


def test_a_job_owned_by_a_jobset_is_not_a_gang_of_its_own() -> None:
    jobset = jobset_body("js", [("workers", 2, 4)])
    child = job_body("js-workers-0", 4, owner=owner_ref(jobset))
    record = record_for(child, "phalanx")
    assert record.gang is None
    assert record.owner == ("JobSet", "js", jobset["metadata"]["uid"])


def test_a_bad_annotation_value_holds_the_job_with_a_message() -> None:
    record = record_for(job_body("train", 4, annotations={GANG_ANNOTATION: "yes"}), "phalanx")
    assert record.integrated
    assert record.gang is None
    assert "must be true or false" in record.problem


def test_a_bad_topology_annotation_names_the_key() -> None:
    record = record_for(job_body("train", 4, annotations={REQUIRED_TOPOLOGY_ANNOTATION: "not a key!"}), "phalanx")
    assert "not a key!" in record.problem


def test_the_topology_annotation_becomes_a_required_constraint() -> None:
    body = job_body("train", 4, annotations={REQUIRED_TOPOLOGY_ANNOTATION: "network.phalanx.dev/rack"})
    record = record_for(body, "phalanx")
    assert record.gang is not None
    constraint = record.gang.workload.spec.pod_group_templates[0].scheduling_constraints.topology[0]
    assert (constraint.key, constraint.mode) == ("network.phalanx.dev/rack", TopologyMode.REQUIRED)


def test_a_jobset_is_one_gang_of_all_its_pods_by_default() -> None:
    assert _templates(jobset_body("js", [("driver", 1, 1), ("workers", 3, 4)])) == [("gang", 13, 1)]


def test_a_jobset_can_ask_for_a_gang_per_replicated_job_or_per_job() -> None:
    per_rj = jobset_body(
        "js", [("driver", 1, 1), ("workers", 3, 4)], annotations={GANG_SCOPE_ANNOTATION: "ReplicatedJob"}
    )
    assert _templates(per_rj) == [("driver", 1, 1), ("workers", 12, 1)]
    per_job = jobset_body("js", [("driver", 1, 1), ("workers", 3, 4)], annotations={GANG_SCOPE_ANNOTATION: "Job"})
    assert _templates(per_job) == [("driver", 1, 1), ("workers", 4, 3)]


def test_an_unknown_gang_scope_is_reported() -> None:
    record = record_for(jobset_body("js", [("w", 1, 2)], annotations={GANG_SCOPE_ANNOTATION: "Pod"}), "phalanx")
    assert "gang-scope" in record.problem


def test_a_leader_worker_set_is_one_gang_per_group_of_leader_and_workers() -> None:
    assert _templates(lws_body("serve", 3, 4)) == [("group", 4, 3)]


def test_a_leader_worker_set_that_starts_workers_after_the_leader_runs_is_not_a_gang() -> None:
    record = record_for(lws_body("serve", 2, 4, startup="LeaderReady"), "phalanx")
    assert record.gang is None
    assert "LeaderReady" in record.note


def test_long_names_are_shortened_to_a_label_value_and_stay_distinct() -> None:
    first, second = workload_name("a" * 70, "JobSet"), workload_name("a" * 69 + "b", "JobSet")
    assert len(first) <= 63
    assert len(second) <= 63
    assert first != second
    assert first.endswith("-jobset")


def test_a_job_using_upstreams_workload_api_gets_no_gang_of_ours() -> None:
    scheduling = job_body("train", 4)
    scheduling["spec"]["scheduling"] = {"schedulingPolicy": {"gang": {}}}  # 1.37's Job field (KEP-5547)
    template = pod_template()
    template["spec"]["schedulingGroup"] = {"podGroupName": "train-workers"}
    grouped = job_body("train", 4, template=template)
    for body in (scheduling, grouped):
        record = record_for(body, "phalanx")
        assert record.gang is None
        assert "upstream" in record.note


def test_a_jobset_or_lws_whose_pods_carry_a_scheduling_group_gets_no_gang_of_ours() -> None:
    jobset = jobset_body("js", [("workers", 2, 2)])
    for rj in jobset["spec"]["replicatedJobs"]:
        rj["template"]["spec"]["template"]["spec"]["schedulingGroup"] = {"podGroupName": "js-workers"}
    lws = lws_body("lws", replicas=1, size=3)
    lws["spec"]["leaderWorkerTemplate"]["workerTemplate"]["spec"]["schedulingGroup"] = {"podGroupName": "g"}
    for body in (jobset, lws):
        record = record_for(body, "phalanx")
        assert record.gang is None
        assert "upstream" in record.note


def test_a_record_left_to_upstream_keeps_its_identity_and_loses_its_gang() -> None:
    record = record_for(job_body("train", 4), "phalanx")
    assert record.gang is not None
    left = left_to_upstream(record)
    assert left.gang is None
    assert (left.kind, left.name, left.uid) == (record.kind, record.name, record.uid)
