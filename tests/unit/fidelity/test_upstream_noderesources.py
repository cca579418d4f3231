"""kube-scheduler's NodeResourcesFit Filter tables, run against all of our filters.

Source: kubernetes/kubernetes pkg/scheduler/framework/plugins/noderesources/fit_test.go (the version read has
TestEnoughRequests(t) { testEnoughRequests(ktesting.Init(t)) } and pod-level resources; 97,182 characters), tables
TestEnoughRequests, TestNotEnoughRequests, TestStorageRequests and TestRestartableInitContainers. In that version
the sidecar (restartPolicy Always init container) cases live in TestRestartableInitContainers, not in
TestEnoughRequests.

Upstream's nodeInfo holds one existing pod (newResourcePod(...)); here it is bound to "node1", whose allocatable is
upstream's makeAllocatableResources(10, 20, 32, 5, 20, 5): 10m cpu, 20 bytes of memory, 32 pods, 5 example.com/aaa,
20 bytes of ephemeral storage, 5 hugepages-2Mi. Requests are written as newResourcePod writes them: cpu, memory and
ephemeral-storage always (zero included), so "zero requests are not checked" is exercised as upstream does.
Upstream distinguishes Unschedulable from UnschedulableAndUnresolvable (a request above the node's allocatable);
both are a failure here, with upstream's reason "Insufficient <resource>" or "Too many pods".

Skipped:
- "skip checking ignored extended resource", "skip checking ignored extended resource via resource groups": they
  set NodeResourcesFitArgs.ignoredResources / ignoredResourceGroups, profile arguments outside the default profile.
- "extended resource backed by device plugin", "extended resource backed by DRA", "extended resource backed by
  DRA, nil draManager", "extended resource backed by DRA not enabled", "extended resource NOT backed by DRA",
  "extended resource was backed by Device Plugin (Allocatable: 0)", "... (Allocatable: 0), global cache": they
  toggle the DRAExtendedResource feature gate and need DeviceClass objects and a DRA manager (feature-gate
  plumbing; no DRA in our harness).
- TestRestartableInitContainers' "... if sidecar containers is disabled" cases: SidecarContainers feature-gate
  plumbing (the gate is GA and locked on).
- TestPreFilterDisabled (Filter without PreFilter state), the Score tables and the queueing-hint tests.
- The InsufficientResource structs (requested/used/capacity numbers) upstream also compares: Go internals.
"""

from __future__ import annotations

from collections.abc import Mapping

import pytest

from tests.unit.fidelity.expect import PASS, Case, Want, assert_verdicts, case_ids
from tests.unit.fidelity.harness import filter_nodes
from tests.unit.fidelity.objects import Obj, PodBuilder, make_node, make_pod, requests

EXTENDED_A = "example.com/aaa"
EXTENDED_B = "example.com/bbb"
KUBERNETES_IO_A = "kubernetes.io/something"
KUBERNETES_IO_B = "subdomain.kubernetes.io/something"
HUGE_PAGE_A = "hugepages-2Mi"


def allocatable(milli_cpu: int, memory: int, pods: int, extended_a: int, storage: int, huge_page_a: int) -> Obj:
    """Upstream's makeAllocatableResources."""
    return {
        "cpu": f"{milli_cpu}m",
        "memory": str(memory),
        "pods": str(pods),
        EXTENDED_A: str(extended_a),
        "ephemeral-storage": str(storage),
        HUGE_PAGE_A: str(huge_page_a),
    }


def insufficient(resource: str) -> str:
    """Upstream's getErrReason."""
    return f"Insufficient {resource}"


SCALAR = {"a": EXTENDED_A, "b": EXTENDED_B, "kio_a": KUBERNETES_IO_A, "kio_b": KUBERNETES_IO_B, "hp": HUGE_PAGE_A}


def r(milli_cpu: int = 0, memory: int = 0, ephemeral_storage: int = 0, **scalars: int) -> dict[str, str]:
    """framework.Resource{MilliCPU, Memory, EphemeralStorage, ScalarResources} as container requests; scalar
    resources by their short names in SCALAR (`r(1, 1, a=10)` requests 10 example.com/aaa)."""
    return requests(
        milli_cpu, memory, ephemeral_storage, {SCALAR[name]: quantity for name, quantity in scalars.items()}
    )


def resource_pod(*usages: Mapping[str, str]) -> PodBuilder:
    """Upstream's newResourcePod: one container per usage."""
    pod = make_pod()
    for usage in usages:
        pod.container(usage)
    return pod


def init_pod(pod: PodBuilder, *usages: Mapping[str, str]) -> PodBuilder:
    """Upstream's newResourceInitPod: one init container per usage."""
    for usage in usages:
        pod.init_container(usage)
    return pod


NODE = "node1"


def fit(name: str, pod: PodBuilder, existing: PodBuilder | None, want: Want, alloc: Obj | None = None) -> Case:
    """A case on node1 (allocatable as upstream's TestEnoughRequests unless `alloc` is given), with `existing`
    bound there."""
    alloc = alloc or allocatable(10, 20, 32, 5, 20, 5)
    return Case(
        name,
        pod.obj(),
        [make_node(NODE).allocatable(alloc).obj()],
        {NODE: want},
        existing=[existing.node(NODE).obj()] if existing else [],
    )


CPU, MEMORY = insufficient("cpu"), insufficient("memory")

ENOUGH_REQUESTS = [
    fit("no resources requested always fits", make_pod(), resource_pod(r(10, 20)), PASS),
    fit("too many resources fails", resource_pod(r(1, 1)), resource_pod(r(10, 20)), (CPU, MEMORY)),
    fit(
        "too many resources fails due to init container cpu",
        init_pod(resource_pod(r(1, 1)), r(3, 1)),
        resource_pod(r(8, 19)),
        CPU,
    ),
    fit(
        "too many resources fails due to highest init container cpu",
        init_pod(resource_pod(r(1, 1)), r(3, 1), r(2, 1)),
        resource_pod(r(8, 19)),
        CPU,
    ),
    fit(
        "too many resources fails due to init container memory",
        init_pod(resource_pod(r(1, 1)), r(1, 3)),
        resource_pod(r(9, 19)),
        MEMORY,
    ),
    fit(
        "too many resources fails due to highest init container memory",
        init_pod(resource_pod(r(1, 1)), r(1, 3), r(1, 2)),
        resource_pod(r(9, 19)),
        MEMORY,
    ),
    fit(
        "init container fits because it's the max, not sum, of containers and init containers",
        init_pod(resource_pod(r(1, 1)), r(1, 1)),
        resource_pod(r(9, 19)),
        PASS,
    ),
    fit(
        "multiple init containers fit because it's the max, not sum, of containers and init containers",
        init_pod(resource_pod(r(1, 1)), r(1, 1), r(1, 1)),
        resource_pod(r(9, 19)),
        PASS,
    ),
    fit("both resources fit", resource_pod(r(1, 1)), resource_pod(r(5, 5)), PASS),
    fit("one resource memory fits", resource_pod(r(2, 1)), resource_pod(r(9, 5)), CPU),
    fit("one resource cpu fits", resource_pod(r(1, 2)), resource_pod(r(5, 19)), MEMORY),
    fit("equal edge case", resource_pod(r(5, 1)), resource_pod(r(5, 19)), PASS),
    fit(
        "equal edge case for init container",
        init_pod(resource_pod(r(4, 1)), r(5, 1)),
        resource_pod(r(5, 19)),
        PASS,
    ),
    fit("extended resource fits", resource_pod(r(a=1)), resource_pod(r()), PASS),
    fit("extended resource fits for init container", init_pod(resource_pod(r()), r(a=1)), resource_pod(r()), PASS),
    fit(
        "extended resource capacity enforced",
        resource_pod(r(1, 1, a=10)),
        resource_pod(r(0, 0, a=0)),
        insufficient(EXTENDED_A),
    ),
    fit(
        "extended resource capacity enforced for init container",
        init_pod(resource_pod(r()), r(1, 1, a=10)),
        resource_pod(r(0, 0, a=0)),
        insufficient(EXTENDED_A),
    ),
    fit(
        "extended resource allocatable enforced",
        resource_pod(r(1, 1, a=1)),
        resource_pod(r(0, 0, a=5)),
        insufficient(EXTENDED_A),
    ),
    fit(
        "extended resource allocatable enforced for init container",
        init_pod(resource_pod(r()), r(1, 1, a=1)),
        resource_pod(r(0, 0, a=5)),
        insufficient(EXTENDED_A),
    ),
    fit(
        "extended resource allocatable enforced for multiple containers",
        resource_pod(r(1, 1, a=3), r(1, 1, a=3)),
        resource_pod(r(0, 0, a=2)),
        insufficient(EXTENDED_A),
    ),
    fit(
        "extended resource allocatable admits multiple init containers",
        init_pod(resource_pod(r()), r(1, 1, a=3), r(1, 1, a=3)),
        resource_pod(r(0, 0, a=2)),
        PASS,
    ),
    fit(
        "extended resource allocatable enforced for multiple init containers",
        init_pod(resource_pod(r()), r(1, 1, a=6), r(1, 1, a=3)),
        resource_pod(r(0, 0, a=2)),
        insufficient(EXTENDED_A),
    ),
    fit(
        "extended resource allocatable enforced for unknown resource",
        resource_pod(r(1, 1, b=1)),
        resource_pod(r(0, 0)),
        insufficient(EXTENDED_B),
    ),
    fit(
        "extended resource allocatable enforced for unknown resource for init container",
        init_pod(resource_pod(r()), r(1, 1, b=1)),
        resource_pod(r(0, 0)),
        insufficient(EXTENDED_B),
    ),
    fit(
        "kubernetes.io resource capacity enforced",
        resource_pod(r(1, 1, kio_a=10)),
        resource_pod(r(0, 0)),
        insufficient(KUBERNETES_IO_A),
    ),
    fit(
        "kubernetes.io resource capacity enforced for init container",
        init_pod(resource_pod(r()), r(1, 1, kio_b=10)),
        resource_pod(r(0, 0)),
        insufficient(KUBERNETES_IO_B),
    ),
    fit(
        "hugepages resource capacity enforced",
        resource_pod(r(1, 1, hp=10)),
        resource_pod(r(0, 0, hp=0)),
        insufficient(HUGE_PAGE_A),
    ),
    fit(
        "hugepages resource capacity enforced for init container",
        init_pod(resource_pod(r()), r(1, 1, hp=10)),
        resource_pod(r(0, 0, hp=0)),
        insufficient(HUGE_PAGE_A),
    ),
    fit(
        "hugepages resource allocatable enforced for multiple containers",
        resource_pod(r(1, 1, hp=3), r(1, 1, hp=3)),
        resource_pod(r(0, 0, hp=2)),
        insufficient(HUGE_PAGE_A),
    ),
    fit(
        "resources + pod overhead fits",
        resource_pod(r(1, 1)).overhead({"cpu": "3m", "memory": "13"}),
        resource_pod(r(5, 5)),
        PASS,
    ),
    fit(
        "requests + overhead does not fit for memory",
        resource_pod(r(1, 1)).overhead({"cpu": "1m", "memory": "15"}),
        resource_pod(r(5, 5)),
        MEMORY,
    ),
    fit(
        # No resource-group argument is set here, despite the name: a zero request is simply not checked, even
        # though the node's example.com/aaa is already over-used (6 of 5).
        "skip checking extended resource request with quantity zero via resource groups",
        resource_pod(r(1, 1, a=0)),
        resource_pod(r(0, 0, a=6)),
        PASS,
    ),
    fit(
        # cpu and memory are requested at zero while the node is over-committed on both (20m of 10m, 30 of 20).
        "skip checking resource request with quantity zero",
        resource_pod(r(a=1)),
        resource_pod(r(20, 30, a=1)),
        PASS,
    ),
    fit(
        "both pod-level and container-level resources fit",
        resource_pod(r(1, 1)).pod_resources({"cpu": "1m", "memory": "2"}),
        resource_pod(r(5, 5)),
        PASS,
    ),
    fit(
        "pod-level cpu resource not fit",
        resource_pod(r(1, 1)).pod_resources({"cpu": "7m", "memory": "2"}),
        resource_pod(r(5, 5)),
        CPU,
    ),
    fit(
        "pod-level memory resource not fit",
        resource_pod(r(1, 1)).pod_resources({"cpu": "3m", "memory": "2"}),
        resource_pod(r(5, 19)),
        MEMORY,
    ),
    fit(
        "pod-level hugepages resource fit",
        resource_pod().pod_resources({"cpu": "3m", "memory": "2", HUGE_PAGE_A: "5"}),
        None,
        PASS,
    ),
    fit(
        "both pod-level and container-level hugepages resource fit",
        resource_pod(r(1, 1, hp=3)).pod_resources({"cpu": "3m", "memory": "2", HUGE_PAGE_A: "5"}),
        None,
        PASS,
    ),
    fit(
        "pod-level hugepages resource not fit",
        resource_pod().pod_resources({"cpu": "3m", "memory": "2", HUGE_PAGE_A: "10"}),
        None,
        insufficient(HUGE_PAGE_A),
    ),
    fit(
        "one pod-level cpu resource fits and all init and non-init containers resources fit",
        init_pod(resource_pod(r(1, 1)).pod_resources({"cpu": "3m", "memory": "2"}), r(1, 1)),
        resource_pod(r(5, 19)),
        MEMORY,
    ),
]

ONE_POD_NODE = allocatable(10, 20, 1, 0, 0, 0)
TOO_MANY_PODS = "Too many pods"

NOT_ENOUGH_REQUESTS = [
    fit(
        "even without specified resources, predicate fails when there's no space for additional pod",
        make_pod(),
        resource_pod(r(10, 20)),
        TOO_MANY_PODS,
        ONE_POD_NODE,
    ),
    fit(
        "even if both resources fit, predicate fails when there's no space for additional pod",
        resource_pod(r(1, 1)),
        resource_pod(r(5, 5)),
        TOO_MANY_PODS,
        ONE_POD_NODE,
    ),
    fit(
        "even for equal edge case, predicate fails when there's no space for additional pod",
        resource_pod(r(5, 1)),
        resource_pod(r(5, 19)),
        TOO_MANY_PODS,
        ONE_POD_NODE,
    ),
    fit(
        "even for equal edge case, predicate fails when there's no space for additional pod due to init container",
        init_pod(resource_pod(r(5, 1)), r(5, 1)),
        resource_pod(r(5, 19)),
        TOO_MANY_PODS,
        ONE_POD_NODE,
    ),
]

STORAGE_REQUESTS = [
    fit("empty storage requested, and pod fits", resource_pod(r(1, 1)), resource_pod(r(2, 10)), PASS),
    fit(
        "storage ephemeral local storage request exceeds allocatable",
        resource_pod(r(ephemeral_storage=25)),
        resource_pod(r(2, 2)),
        insufficient("ephemeral-storage"),
    ),
    fit(
        "ephemeral local storage is sufficient",
        resource_pod(r(ephemeral_storage=5)),
        resource_pod(r(2, 2, ephemeral_storage=10)),
        PASS,
    ),
    fit("pod fits", resource_pod(r(ephemeral_storage=10)), resource_pod(r(2, 2)), PASS),
]


def sidecar_pod(request: Mapping[str, str] | None, sidecar_request: Mapping[str, str] | None) -> PodBuilder:
    """Upstream's newPodWithRestartableInitContainers: a regular container and one sidecar."""
    return make_pod().container(request).init_container(sidecar_request, sidecar=True)


SIDECAR_NODE = allocatable(2, 0, 1, 0, 0, 0)

RESTARTABLE_INIT_CONTAINERS = [
    fit(
        "allow pod without restartable init containers if sidecar containers is enabled",
        make_pod().container(),
        None,
        PASS,
        SIDECAR_NODE,
    ),
    fit(
        "allow pod with restartable init containers if sidecar containers is enabled",
        sidecar_pod(None, None),
        None,
        PASS,
        SIDECAR_NODE,
    ),
    fit(
        "allow pod if the total requested resources do not exceed the node's allocatable resources",
        sidecar_pod({"cpu": "1m"}, {"cpu": "1m"}),
        None,
        PASS,
        SIDECAR_NODE,
    ),
    fit(
        "not allow pod if the total requested resources do exceed the node's allocatable resources",
        sidecar_pod({"cpu": "1m"}, {"cpu": "2m"}),
        None,
        CPU,
        SIDECAR_NODE,
    ),
]


def judge(case: Case) -> None:
    got = filter_nodes(case.pod, list(case.nodes), list(case.existing), list(case.namespaces))
    assert_verdicts(got, case.want)


@pytest.mark.parametrize("case", ENOUGH_REQUESTS, ids=case_ids(ENOUGH_REQUESTS))
def test_a_pod_fits_its_requests_exactly_where_kube_scheduler_says(case: Case) -> None:
    judge(case)


@pytest.mark.parametrize("case", NOT_ENOUGH_REQUESTS, ids=case_ids(NOT_ENOUGH_REQUESTS))
def test_a_node_with_no_pod_slot_left_refuses_any_pod(case: Case) -> None:
    judge(case)


@pytest.mark.parametrize("case", STORAGE_REQUESTS, ids=case_ids(STORAGE_REQUESTS))
def test_ephemeral_storage_fits_exactly_where_kube_scheduler_says(case: Case) -> None:
    judge(case)


@pytest.mark.parametrize("case", RESTARTABLE_INIT_CONTAINERS, ids=case_ids(RESTARTABLE_INIT_CONTAINERS))
def test_sidecars_add_to_the_pod_request_as_kube_scheduler_says(case: Case) -> None:
    judge(case)
