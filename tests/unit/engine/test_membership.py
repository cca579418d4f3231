"""Pods join gangs through their owner chain, resolved by the cache, without a label on the pod."""

from __future__ import annotations

from typing import Any

from scheduler.api.core import Pod
from scheduler.api.integrations import record_for
from scheduler.api.podgroup import ScheduledReason
from scheduler.engine.state import ClusterState, pod_info
from scheduler.engine.units import pending_units
from tests.builders import LEVELS
from tests.controllers import job_body, job_pods, jobset_body, jobset_children, lws_body, lws_objects

FOLLOWED = ("Job", "StatefulSet", "JobSet", "LeaderWorkerSet")


def _state(served: bool | None = True) -> ClusterState:
    state = ClusterState(LEVELS)
    for kind in FOLLOWED:
        state.follow(kind, served)
    return state


def _add(state: ClusterState, *bodies: dict[str, Any]) -> None:
    for body in bodies:
        if body["kind"] == "Pod":
            body["metadata"].setdefault("namespace", "default")
            state.upsert_pod(pod_info(Pod.model_validate(body)))
        else:
            body["metadata"].setdefault("namespace", "default")
            state.upsert_owner(record_for(body, "phalanx"))


def _groups(state: ClusterState) -> dict[str, str | None]:
    return {info.name: info.group for info in state.pods.values()}


def test_pods_of_an_indexed_job_belong_to_its_gang() -> None:
    state = _state()
    job = job_body("train", 3)
    _add(state, job, *job_pods(job))
    assert set(_groups(state).values()) == {"train-job-gang"}


def test_a_pod_seen_before_its_job_waits_then_joins_the_gang() -> None:
    state = _state()
    job = job_body("train", 2)
    pods = job_pods(job)
    _add(state, *pods)
    units = pending_units(state, "phalanx")
    assert all(u.waiting is ScheduledReason.WAITING_FOR_PODS and "Job train" in u.message for u in units)
    _add(state, job)
    assert set(_groups(state).values()) == {"train-job-gang"}
    assert [u.key for u in pending_units(state, "phalanx")] == ["default/train-job-gang"]


def test_pods_wait_for_their_owner_while_its_kind_is_still_being_listed() -> None:
    state = _state(served=None)
    job = job_body("once", 1)
    _add(state, *job_pods(job))
    assert all(info.held for info in state.pods.values())
    state.follow("Job", True)
    _add(state, job)
    assert all(not info.held and info.group is None for info in state.pods.values())


def test_owners_of_a_kind_whose_api_is_not_installed_are_not_waited_for() -> None:
    state = _state()
    state.follow("JobSet", False)
    jobset = jobset_body("js", [("workers", 1, 2)])
    child = jobset_children(jobset)[0]
    _add(state, child, *job_pods(child))
    assert all(not info.held and info.group is None for info in state.pods.values())


def test_a_job_with_parallelism_one_leaves_its_pod_alone() -> None:
    state = _state()
    job = job_body("once", 1)
    _add(state, job, *job_pods(job))
    (unit,) = pending_units(state, "phalanx")
    assert unit.group is None
    assert unit.waiting is None
    assert unit.gang is not None


def test_pods_of_a_jobset_resolve_through_their_child_job_to_the_jobset_gang() -> None:
    state = _state()
    jobset = jobset_body("js", [("driver", 1, 1), ("workers", 2, 2)])
    children = jobset_children(jobset)
    _add(state, jobset, *children, *(p for job in children for p in job_pods(job)))
    assert set(_groups(state).values()) == {"js-jobset-gang"}
    assert len(state.members("default/js-jobset-gang")) == 5


def test_a_jobset_gang_per_job_puts_each_child_jobs_pods_in_its_own_group() -> None:
    state = _state()
    jobset = jobset_body("js", [("workers", 2, 2)], annotations={"scheduling.phalanx.dev/gang-scope": "Job"})
    children = jobset_children(jobset)
    _add(state, jobset, *children, *(p for job in children for p in job_pods(job)))
    assert sorted(set(_groups(state).values()), key=str) == ["js-jobset-workers-0", "js-jobset-workers-1"]


def test_leader_worker_set_pods_resolve_through_their_stateful_sets_and_leader() -> None:
    state = _state()
    lws = lws_body("serve", 2, 3)
    sets, pods = lws_objects(lws)
    # Workers first: their set's owner (the leader pod) is not known yet; then everything but the LWS.
    _add(state, *reversed(pods), *sets)
    assert all("LeaderWorkerSet serve" in info.held for info in state.pods.values())
    _add(state, lws)
    groups = _groups(state)
    assert groups["serve-0"] == groups["serve-0-1"] == groups["serve-0-2"] == "serve-lws-group-0"
    assert groups["serve-1-2"] == "serve-lws-group-1"


def test_a_recreated_owner_with_another_uid_is_not_taken_for_the_old_one() -> None:
    state = _state()
    job = job_body("train", 2)
    pods = job_pods(job)
    job["metadata"]["uid"] = "someone-else"
    _add(state, job, *pods)
    assert all("Job train" in info.held for info in state.pods.values())


def test_deleting_the_job_sends_its_pods_back_to_waiting() -> None:
    state = _state()
    job = job_body("train", 2)
    _add(state, job, *job_pods(job))
    state.remove_owner("Job/default/train")
    assert all(info.group is None and info.held for info in state.pods.values())


def test_a_pod_group_label_wins_over_the_owner_chain() -> None:
    state = _state()
    job = job_body("train", 2)
    pods = job_pods(job)
    pods[0]["metadata"]["labels"]["scheduling.phalanx.dev/pod-group"] = "mine"
    _add(state, job, *pods)
    assert sorted(_groups(state).values(), key=str) == ["mine", "train-job-gang"]
