"""kube-scheduler's NodePorts Filter table (TestNodePorts), run against all of our filters.

Source: kubernetes/kubernetes pkg/scheduler/framework/plugins/nodeports/node_ports_test.go (the version read is
commit 008b3652959ca58af8be3fb5b6ecfe9ae7638282), TestNodePorts. Upstream's nodeInfo is built from the existing
pod alone; here that pod is bound to a roomy Ready node "m1", and the incoming pod (which upstream's newPod also
binds to "m1", irrelevant to Filter) is left unbound. Ports are written "PROTOCOL/hostIP/hostPort" as upstream's
newPod takes them; containerPort is set to the host port (the API requires one). The reason is ErrReason,
"node(s) didn't have free ports for the requested pod ports".

"skip filter" and "non-sidecar initContainer using hostPort" expect PreFilter to return Skip: the pod then passes
the filter, which is what is asserted.

Skipped: TestPreFilterDisabled (Filter without PreFilter state, Go internals), Test_isSchedulableAfterAssignedPod
Deleted (queueing hints), TestFits (the helper behind Filter; its cases repeat TestNodePorts').
"""

from __future__ import annotations

import pytest

from tests.unit.fidelity.expect import PASS, Case, Want, assert_verdicts, case_ids
from tests.unit.fidelity.harness import filter_nodes
from tests.unit.fidelity.objects import Obj, PodBuilder, host_port, make_node, make_pod

ERR_REASON = "node(s) didn't have free ports for the requested pod ports"
NODE = "m1"


def ports_pod(*host_port_infos: str) -> PodBuilder:
    """Upstream's newPod: one container with a host port per "PROTOCOL/hostIP/hostPort"."""
    ports = []
    for info in host_port_infos:
        protocol, host_ip, port = info.split("/")
        ports.append(host_port(protocol, host_ip, int(port)))
    return make_pod().container(ports=ports)


def row(name: str, pod: Obj, existing: list[Obj], want: Want) -> Case:
    """A case on node m1, with these pods already bound there."""
    return Case(name, pod, [make_node(NODE).obj()], {NODE: want}, existing=existing)


CASES = [
    row("skip filter", make_pod().obj(), [], PASS),
    row(
        "other port",
        ports_pod("UDP/127.0.0.1/8080").obj(),
        [ports_pod("UDP/127.0.0.1/9090").node(NODE).obj()],
        PASS,
    ),
    row(
        "same udp port",
        ports_pod("UDP/127.0.0.1/8080").obj(),
        [ports_pod("UDP/127.0.0.1/8080").node(NODE).obj()],
        ERR_REASON,
    ),
    row(
        "same tcp port",
        ports_pod("TCP/127.0.0.1/8080").obj(),
        [ports_pod("TCP/127.0.0.1/8080").node(NODE).obj()],
        ERR_REASON,
    ),
    row(
        "different host ip",
        ports_pod("TCP/127.0.0.1/8080").obj(),
        [ports_pod("TCP/127.0.0.2/8080").node(NODE).obj()],
        PASS,
    ),
    row(
        "different protocol",
        ports_pod("UDP/127.0.0.1/8080").obj(),
        [ports_pod("TCP/127.0.0.1/8080").node(NODE).obj()],
        PASS,
    ),
    row(
        "second udp port conflict",
        ports_pod("UDP/127.0.0.1/8000", "UDP/127.0.0.1/8080").obj(),
        [ports_pod("UDP/127.0.0.1/8080").node(NODE).obj()],
        ERR_REASON,
    ),
    row(
        "first tcp port conflict",
        ports_pod("TCP/127.0.0.1/8001", "UDP/127.0.0.1/8080").obj(),
        [ports_pod("TCP/127.0.0.1/8001", "UDP/127.0.0.1/8081").node(NODE).obj()],
        ERR_REASON,
    ),
    row(
        "first tcp port conflict due to 0.0.0.0 hostIP",
        ports_pod("TCP/0.0.0.0/8001").obj(),
        [ports_pod("TCP/127.0.0.1/8001").node(NODE).obj()],
        ERR_REASON,
    ),
    row(
        "TCP hostPort conflict due to 0.0.0.0 hostIP",
        ports_pod("TCP/10.0.10.10/8001", "TCP/0.0.0.0/8001").obj(),
        [ports_pod("TCP/127.0.0.1/8001").node(NODE).obj()],
        ERR_REASON,
    ),
    row(
        "second tcp port conflict to 0.0.0.0 hostIP",
        ports_pod("TCP/127.0.0.1/8001").obj(),
        [ports_pod("TCP/0.0.0.0/8001").node(NODE).obj()],
        ERR_REASON,
    ),
    row(
        "second different protocol",
        ports_pod("UDP/127.0.0.1/8001").obj(),
        [ports_pod("TCP/0.0.0.0/8001").node(NODE).obj()],
        PASS,
    ),
    row(
        "UDP hostPort conflict due to 0.0.0.0 hostIP",
        ports_pod("UDP/127.0.0.1/8001").obj(),
        [ports_pod("TCP/0.0.0.0/8001", "UDP/0.0.0.0/8001").node(NODE).obj()],
        ERR_REASON,
    ),
    row(
        # A plain init container's host port is not held while the pod runs: it never clashes.
        "non-sidecar initContainer using hostPort",
        make_pod().init_container(ports=[host_port("TCP", "", 8001)]).obj(),
        [ports_pod("TCP/0.0.0.0/8001").node(NODE).obj()],
        PASS,
    ),
    row(
        "TCP hostPort conflict from sidecar initContainer",
        make_pod().init_container(ports=[host_port("TCP", "", 8001)], sidecar=True).obj(),
        [ports_pod("TCP/0.0.0.0/8001").node(NODE).obj()],
        ERR_REASON,
    ),
]


@pytest.mark.parametrize("case", CASES, ids=case_ids(CASES))
def test_a_pod_gets_host_ports_exactly_where_kube_scheduler_says(case: Case) -> None:
    got = filter_nodes(case.pod, list(case.nodes), list(case.existing), list(case.namespaces))
    assert_verdicts(got, case.want)
