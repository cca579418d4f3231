"""kube-scheduler's PodTopologySpread Filter tables, run against all of our filters.

Source: kubernetes/kubernetes pkg/scheduler/framework/plugins/podtopologyspread/filtering_test.go (the version read
is commit e7827879dbc282e7f5103451dc63169e964b6bb7), tables TestSingleConstraint and TestMultipleConstraints.
Upstream asserts only status codes; the reasons written here are its Filter's: ErrReasonConstraintsNotMatch,
"node(s) didn't match pod topology spread constraints", and for a node without the topology key
ErrReasonNodeLabelNotMatch, the same followed by " (missing required label)". Pods of upstream's empty namespace
are in "default" here.

Adapted, because upstream runs PodTopologySpread alone and we run every filter: where upstream's comment says "in
real case, it's false" (or the node is otherwise excluded by the pod's node affinity/selector or an untolerated
taint), the node is expected to fail with the reason kube-scheduler's full default profile reports first, in its
filter order (TaintToleration, then NodeAffinity, ..., then PodTopologySpread): "node(s) had untolerated taint(s)"
or "node(s) didn't match Pod's node affinity/selector". Those nodes are marked `# real case` below. This
reproduces what kube-scheduler would say with its default profile; the spread counting those cases test still
shows on the other nodes (a node excluded by affinity or taints does or does not count, per policy).
The NodeInclusionPolicy feature (nodeAffinityPolicy/nodeTaintsPolicy) is GA; its cases run with it on, as
upstream's do.

Skipped: TestPreFilterState, TestPreFilterStateAddPod, TestPreFilterStateRemovePod (pre-computed state structs,
including all the matchLabelKeys cases of this version: none is in a Filter table), BenchmarkFilter,
TestPreFilterDisabled (Filter without PreFilter state).
"""

from __future__ import annotations

import pytest

from tests.unit.fidelity.expect import PASS, Case, Want, assert_verdicts, case_ids
from tests.unit.fidelity.harness import filter_nodes
from tests.unit.fidelity.objects import (
    DO_NOT_SCHEDULE,
    HONOR,
    IGNORE,
    Obj,
    exists_selector,
    make_node,
    make_pod,
    node_term,
    req,
)

SPREAD = "node(s) didn't match pod topology spread constraints"  # ErrReasonConstraintsNotMatch
MISSING_LABEL = SPREAD + " (missing required label)"  # ErrReasonNodeLabelNotMatch
NODE_AFFINITY = "node(s) didn't match Pod's node affinity/selector"  # nodeaffinity.ErrReasonPod
UNTOLERATED = "node(s) had untolerated taint"  # ours names the taint: {key: value}

FOO_SELECTOR = exists_selector("foo")
BAR_SELECTOR = exists_selector("bar")
TAINT_NODE_UNSCHEDULABLE = "node.kubernetes.io/unschedulable"  # upstream's `taints`: this key, NoSchedule


def node(name: str, tainted: bool = False, **labels: str) -> Obj:
    """st.MakeNode().Name(name).Label(...)[.Taints(taints)]."""
    builder = make_node(name, labels)
    if tainted:
        builder.taint(TAINT_NODE_UNSCHEDULABLE, "", "NoSchedule")
    return builder.obj()


def pod(name: str, on: str, namespace: str = "", terminating: bool = False, **labels: str) -> Obj:
    """An existing pod: st.MakePod().Name(name).Node(on).Label(...)."""
    builder = make_pod(name, namespace, labels, on)
    if terminating:
        builder.terminating()
    return builder.obj()


def foo_pods(**counts: int) -> list[Obj]:
    """`foo_pods(a=2, y=3)`: pods p-a1, p-a2 on node-a and p-y1..p-y3 on node-y, all labelled foo."""
    return [pod(f"p-{n}{i}", f"node-{n}", foo="") for n, count in counts.items() for i in range(1, count + 1)]


def four_nodes() -> list[Obj]:
    """node-a, node-b in zone1 and node-x, node-y in zone2, each with its "node" label."""
    return [
        node("node-a", zone="zone1", node="node-a"),
        node("node-b", zone="zone1", node="node-b"),
        node("node-x", zone="zone2", node="node-x"),
        node("node-y", zone="zone2", node="node-y"),
    ]


def spread(name: str, incoming: Obj, nodes: list[Obj], existing: list[Obj], **want: Want) -> Case:
    """`want` by node suffix: `a=PASS, y=SPREAD` for node-a and node-y."""
    return Case(name, incoming, nodes, {f"node-{n}": verdict for n, verdict in want.items()}, existing=existing)


def foo_pod() -> Obj:
    return make_pod("p", labels={"foo": ""}).spread_constraint(1, "zone", DO_NOT_SCHEDULE, FOO_SELECTOR).obj()


def foo_node_pod(max_skew: int = 1) -> Obj:
    return make_pod("p", labels={"foo": ""}).spread_constraint(max_skew, "node", DO_NOT_SCHEDULE, FOO_SELECTOR).obj()


def foo_labelled_nodes(tainted_y: bool = False) -> list[Obj]:
    """node-a, node-b, node-x with labels node and foo; node-y with node only (tainted if asked)."""
    return [
        node("node-a", node="node-a", foo=""),
        node("node-b", node="node-b", foo=""),
        node("node-x", node="node-x", foo=""),
        node("node-y", tainted_y, node="node-y"),
    ]


def one_each_on_a_b_y() -> list[Obj]:
    """p-b1 on node-a, p-b2 on node-b, p-y1 on node-y (upstream's names), all labelled foo."""
    return [pod("p-b1", "node-a", foo=""), pod("p-b2", "node-b", foo=""), pod("p-y1", "node-y", foo="")]


def min_domains_pod(key: str, min_domains: int) -> Obj:
    return make_pod("p", labels={"foo": ""}).spread_constraint(2, key, DO_NOT_SCHEDULE, FOO_SELECTOR, min_domains).obj()


THREE_NODES = ["node-a", "node-b", "node-c"]

SINGLE_CONSTRAINT = [
    spread("no existing pods", foo_pod(), four_nodes(), [], a=PASS, b=PASS, x=PASS, y=PASS),
    spread(
        "no existing pods, incoming pod doesn't match itself",
        make_pod("p", labels={"foo": ""}).spread_constraint(1, "zone", DO_NOT_SCHEDULE, BAR_SELECTOR).obj(),
        four_nodes(),
        [],
        a=PASS,
        b=PASS,
        x=PASS,
        y=PASS,
    ),
    spread(
        "existing pods in a different namespace do not count",
        foo_pod(),
        four_nodes(),
        [
            pod("p-a1", "node-a", "ns1", foo=""),
            pod("p-b1", "node-a", "ns2", foo=""),
            pod("p-x1", "node-x", foo=""),
            pod("p-y1", "node-y", foo=""),
        ],
        a=PASS,
        b=PASS,
        x=SPREAD,
        y=SPREAD,
    ),
    spread(
        "existing pods do not match null selector",
        make_pod("p", labels={"foo": ""}).spread_constraint(1, "zone", DO_NOT_SCHEDULE, None).obj(),
        four_nodes(),
        foo_pods(x=1, y=1),
        a=PASS,
        b=PASS,
        x=PASS,
        y=PASS,
    ),
    spread(
        "pods spread across zones as 3/3, all nodes fit",
        foo_pod(),
        four_nodes(),
        foo_pods(a=2, b=1, y=3),
        a=PASS,
        b=PASS,
        x=PASS,
        y=PASS,
    ),
    spread(
        "pods spread across zones as 1/2 due to absence of label 'zone' on node-b",
        foo_pod(),
        [
            node("node-a", zone="zone1", node="node-a"),
            node("node-b", zon="zone1", node="node-b"),
            node("node-x", zone="zone2", node="node-x"),
            node("node-y", zone="zone2", node="node-y"),
        ],
        foo_pods(a=1, b=1, x=1, y=1),
        a=PASS,
        b=MISSING_LABEL,
        x=SPREAD,
        y=SPREAD,
    ),
    spread(
        "pod cannot be scheduled as all nodes don't have label 'rack'",
        make_pod("p", labels={"foo": ""}).spread_constraint(1, "rack", DO_NOT_SCHEDULE, FOO_SELECTOR).obj(),
        [node("node-a", zone="zone1", node="node-a"), node("node-x", zone="zone2", node="node-x")],
        [],
        a=MISSING_LABEL,
        x=MISSING_LABEL,
    ),
    spread(
        "pods spread across nodes as 2/1/0/3, only node-x fits",
        foo_node_pod(),
        four_nodes(),
        foo_pods(a=2, b=1, y=3),
        a=SPREAD,
        b=SPREAD,
        x=PASS,
        y=SPREAD,
    ),
    spread(
        "pods spread across nodes as 2/1/0/3, maxSkew is 2, node-b and node-x fit",
        foo_node_pod(max_skew=2),
        four_nodes(),
        foo_pods(a=2, b=1, y=3),
        a=SPREAD,
        b=PASS,
        x=PASS,
        y=SPREAD,
    ),
    spread(
        "pods spread across nodes as 2/1/0/3, but pod doesn't match itself",
        make_pod("p", labels={"bar": ""}).spread_constraint(1, "node", DO_NOT_SCHEDULE, FOO_SELECTOR).obj(),
        four_nodes(),
        foo_pods(a=2, b=1, y=3),
        a=SPREAD,
        b=PASS,
        x=PASS,
        y=SPREAD,
    ),
    spread(
        # Only node-a and node-y count, so pods spread as 2/~1~/~0~/3.
        "incoming pod has nodeAffinity, pods spread as 2/~1~/~0~/3, hence node-a fits",
        make_pod("p", labels={"foo": ""})
        .node_affinity_in("node", ["node-a", "node-y"])
        .spread_constraint(1, "node", DO_NOT_SCHEDULE, FOO_SELECTOR)
        .obj(),
        four_nodes(),
        foo_pods(a=2, b=1, y=3),
        a=PASS,
        b=NODE_AFFINITY,  # real case
        x=NODE_AFFINITY,  # real case
        y=SPREAD,
    ),
    spread(
        "terminating Pods should be excluded",
        foo_node_pod(),
        [node("node-a", node="node-a"), node("node-b", node="node-b")],
        [pod("p-a", "node-a", terminating=True, foo=""), pod("p-b", "node-b", foo="")],
        a=PASS,
        b=SPREAD,
    ),
    spread(
        "incoming pod has nodeAffinity, pods spread as 0/~2~/0/1, hence node-a fits",
        make_pod("p", labels={"foo": ""})
        .node_affinity_not_in("node", ["node-b"])
        .spread_constraint(1, "zone", DO_NOT_SCHEDULE, FOO_SELECTOR)
        .obj(),
        four_nodes(),
        foo_pods(b=2, y=1),
        a=PASS,
        b=NODE_AFFINITY,  # real case
        x=SPREAD,
        y=SPREAD,
    ),
    spread(
        "pods spread across nodes as 2/2/1, maxSkew is 2, and the number of domains < minDomains, then the third "
        "node fits",
        min_domains_pod("node", 4),  # more than the 3 domains
        [node(name, node=name) for name in THREE_NODES],
        foo_pods(a=2, b=2, c=1),
        a=SPREAD,
        b=SPREAD,
        c=PASS,
    ),
    spread(
        "pods spread across nodes as 2/2/1, maxSkew is 2, and the number of domains > minDomains, then the all nodes "
        "fit",
        min_domains_pod("node", 2),  # fewer than the 3 domains
        [node(name, node=name) for name in THREE_NODES],
        foo_pods(a=2, b=2, c=1),
        a=PASS,
        b=PASS,
        c=PASS,
    ),
    spread(
        "pods spread across zone as 2/1, maxSkew is 2 and the number of domains < minDomains, then the third and "
        "fourth nodes fit",
        min_domains_pod("zone", 3),  # more than the 2 domains
        four_nodes(),
        one_each_on_a_b_y(),
        a=SPREAD,
        b=SPREAD,
        x=PASS,
        y=PASS,
    ),
    spread(
        "pods spread across zone as 2/1, maxSkew is 2 and the number of domains > minDomains, then the all nodes fit",
        min_domains_pod("zone", 1),  # fewer than the 2 domains
        four_nodes(),
        one_each_on_a_b_y(),
        a=PASS,
        b=PASS,
        x=PASS,
        y=PASS,
    ),
    spread(
        # Pods spread across nodes as 1/1/0/~0~.
        "NodeAffinityPolicy honored with labelSelectors",
        make_pod("p", labels={"foo": ""})
        .node_selector({"foo": ""})
        .spread_constraint(1, "node", DO_NOT_SCHEDULE, FOO_SELECTOR)
        .obj(),
        foo_labelled_nodes(),
        one_each_on_a_b_y(),
        a=SPREAD,
        b=SPREAD,
        x=PASS,
        y=NODE_AFFINITY,  # real case
    ),
    spread(
        # Pods spread across nodes as 1/1/0/~1~.
        "NodeAffinityPolicy ignored with labelSelectors",
        make_pod("p", labels={"foo": ""})
        .node_selector({"foo": ""})
        .spread_constraint(1, "node", DO_NOT_SCHEDULE, FOO_SELECTOR, node_affinity_policy=IGNORE)
        .obj(),
        foo_labelled_nodes(),
        one_each_on_a_b_y(),
        a=SPREAD,
        b=SPREAD,
        x=PASS,
        y=NODE_AFFINITY,  # real case: node affinity is checked first (upstream alone: spread)
    ),
    spread(
        # Pods spread across nodes as 1/1/0/~0~.
        "NodeAffinityPolicy honored with nodeAffinity",
        make_pod("p", labels={"foo": ""})
        .node_affinity(node_term([req("foo", "In", [""])]))
        .spread_constraint(1, "node", DO_NOT_SCHEDULE, FOO_SELECTOR)
        .obj(),
        foo_labelled_nodes(),
        one_each_on_a_b_y(),
        a=SPREAD,
        b=SPREAD,
        x=PASS,
        y=NODE_AFFINITY,  # real case
    ),
    spread(
        # Pods spread across nodes as 1/1/0/~1~. (Upstream reuses the previous-but-one case's name.)
        "NodeAffinityPolicy ignored with labelSelectors",
        make_pod("p", labels={"foo": ""})
        .node_affinity(node_term([req("foo", "In", [""])]))
        .spread_constraint(1, "node", DO_NOT_SCHEDULE, FOO_SELECTOR, node_affinity_policy=IGNORE)
        .obj(),
        foo_labelled_nodes(),
        one_each_on_a_b_y(),
        a=SPREAD,
        b=SPREAD,
        x=PASS,
        y=NODE_AFFINITY,  # real case: node affinity is checked first (upstream alone: spread)
    ),
    spread(
        # Pods spread across nodes as 1/1/0/~0~.
        "NodeTaintsPolicy honored",
        make_pod("p", labels={"foo": ""})
        .spread_constraint(1, "node", DO_NOT_SCHEDULE, FOO_SELECTOR, node_taints_policy=HONOR)
        .obj(),
        foo_labelled_nodes(tainted_y=True),
        one_each_on_a_b_y(),
        a=SPREAD,
        b=SPREAD,
        x=PASS,
        y=UNTOLERATED,  # real case
    ),
    spread(
        # Pods spread across nodes as 1/1/0/~1~.
        "NodeTaintsPolicy ignored",
        foo_node_pod(),
        foo_labelled_nodes(tainted_y=True),
        one_each_on_a_b_y(),
        a=SPREAD,
        b=SPREAD,
        x=PASS,
        y=UNTOLERATED,  # real case: taints are checked first (upstream alone: spread)
    ),
]


def zone_and_node_pod(node_selector: Obj | None = None) -> Obj:
    builder = make_pod("p", labels={"foo": ""})
    if node_selector is not None:
        builder.node_selector(node_selector)
    return (
        builder.spread_constraint(1, "zone", DO_NOT_SCHEDULE, FOO_SELECTOR)
        .spread_constraint(1, "node", DO_NOT_SCHEDULE, FOO_SELECTOR)
        .obj()
    )


def foo_bar_pod(*labels: str) -> Obj:
    """A pod with these labels spreading foo pods across zones and bar pods across nodes."""
    return (
        make_pod("p", labels=dict.fromkeys(labels, ""))
        .spread_constraint(1, "zone", DO_NOT_SCHEDULE, FOO_SELECTOR)
        .spread_constraint(1, "node", DO_NOT_SCHEDULE, BAR_SELECTOR)
        .obj()
    )


def inclusion_nodes() -> list[Obj]:
    """Zones and node labels; foo on node-a, node-x and node-y, not node-b; node-y tainted."""
    return [
        node("node-a", zone="zone1", node="node-a", foo=""),
        node("node-b", zone="zone1", node="node-b"),
        node("node-x", zone="zone2", node="node-x", foo=""),
        node("node-y", True, zone="zone2", node="node-y", foo=""),
    ]


MULTIPLE_CONSTRAINTS = [
    spread(
        # zone: any node; node: node-x; both: node-x.
        "two Constraints on zone and node, spreads = [3/3, 2/1/0/3]",
        zone_and_node_pod(),
        four_nodes(),
        foo_pods(a=2, b=1, y=3),
        a=SPREAD,
        b=SPREAD,
        x=PASS,
        y=SPREAD,
    ),
    spread(
        # zone: node-a or node-b; node: node-x; both: none.
        "two Constraints on zone and node, spreads = [3/4, 2/1/0/4]",
        zone_and_node_pod(),
        four_nodes(),
        foo_pods(a=2, b=1, y=4),
        a=SPREAD,
        b=SPREAD,
        x=SPREAD,
        y=SPREAD,
    ),
    spread(
        # zone: node-x or node-y; node: node-a, node-b or node-x; both: node-x.
        "Constraints hold different labelSelectors, spreads = [1/0, 1/0/0/1]",
        foo_bar_pod("foo", "bar"),
        four_nodes(),
        [pod("p-a1", "node-a", foo=""), pod("p-y1", "node-y", bar="")],
        a=SPREAD,
        b=SPREAD,
        x=PASS,
        y=SPREAD,
    ),
    spread(
        # zone: node-x or node-y; node: node-a or node-b; both: none.
        "Constraints hold different labelSelectors, spreads = [1/0, 0/0/1/1]",
        foo_bar_pod("foo", "bar"),
        four_nodes(),
        [pod("p-a1", "node-a", foo=""), pod("p-x1", "node-x", bar=""), pod("p-y1", "node-y", bar="")],
        a=SPREAD,
        b=SPREAD,
        x=SPREAD,
        y=SPREAD,
    ),
    spread(
        # zone: node-a or node-b; node: node-b or node-x; both: node-b.
        "Constraints hold different labelSelectors, spreads = [2/3, 1/0/0/1]",
        foo_bar_pod("foo", "bar"),
        four_nodes(),
        [
            pod("p-a1", "node-a", foo=""),
            pod("p-a2", "node-a", foo="", bar=""),
            pod("p-y1", "node-y", foo=""),
            pod("p-y2", "node-y", foo="", bar=""),
            pod("p-y3", "node-y", foo=""),
        ],
        a=SPREAD,
        b=PASS,
        x=SPREAD,
        y=SPREAD,
    ),
    spread(
        # zone: the pod doesn't match itself, any zone; node: node-a or node-b; both: node-a and node-b.
        "Constraints hold different labelSelectors but pod doesn't match itself on 'zone' constraint",
        foo_bar_pod("bar"),
        four_nodes(),
        [pod("p-a1", "node-a", foo=""), pod("p-x1", "node-x", bar=""), pod("p-y1", "node-y", bar="")],
        a=PASS,
        b=PASS,
        x=SPREAD,
        y=SPREAD,
    ),
    spread(
        # zone: any node; node: node-b (node-x lacks the label); both: node-b.
        "two Constraints on zone and node, absence of label 'node' on node-x, spreads = [1/1, 1/0/0/1]",
        zone_and_node_pod(),
        [
            node("node-a", zone="zone1", node="node-a"),
            node("node-b", zone="zone1", node="node-b"),
            node("node-x", zone="zone2"),
            node("node-y", zone="zone2", node="node-y"),
        ],
        [pod("p-a1", "node-a", foo=""), pod("p-y3", "node-y", foo="")],
        a=SPREAD,
        b=PASS,
        x=MISSING_LABEL,
        y=SPREAD,
    ),
    spread(
        # zone: pods spread as 2/~0~; node: 1/1/0/~1~; both: node-x.
        "two node inclusion Constraints, zone: honor/ignore, node: ignore/ignore",
        make_pod("p", labels={"foo": ""})
        .node_selector({"foo": ""})
        .spread_constraint(1, "zone", DO_NOT_SCHEDULE, FOO_SELECTOR)
        .spread_constraint(1, "node", DO_NOT_SCHEDULE, FOO_SELECTOR, node_affinity_policy=IGNORE)
        .obj(),
        [
            node("node-a", zone="zone1", node="node-a", foo=""),
            node("node-b", zone="zone1", node="node-b", foo=""),
            node("node-x", zone="zone2", node="node-x", foo=""),
            node("node-y", zone="zone2", node="node-y"),
        ],
        foo_pods(a=1, b=1, y=1),
        a=SPREAD,
        b=SPREAD,
        x=PASS,
        y=NODE_AFFINITY,  # real case: node affinity is checked first (upstream alone: spread)
    ),
    spread(
        # zone: pods spread as 2/0; node: 1/1/0/~1~; both: node-x.
        "two node inclusion Constraints, zone: honor/honor, node: honor/ignore",
        make_pod("p", labels={"foo": ""})
        .spread_constraint(1, "zone", DO_NOT_SCHEDULE, FOO_SELECTOR, node_taints_policy=HONOR)
        .spread_constraint(1, "node", DO_NOT_SCHEDULE, FOO_SELECTOR)
        .obj(),
        [
            node("node-a", zone="zone1", node="node-a", foo=""),
            node("node-b", zone="zone1", node="node-b", foo=""),
            node("node-x", zone="zone2", node="node-x", foo=""),
            node("node-y", True, zone="zone2", node="node-y"),
        ],
        foo_pods(a=1, b=1, y=1),
        a=SPREAD,
        b=SPREAD,
        x=PASS,
        y=UNTOLERATED,  # real case: taints are checked first (upstream alone: spread)
    ),
    spread(
        # zone: pods spread as 1/~1~; node: 1/0/0/~1~; both: node-x (and node-b for the spread alone).
        "two node inclusion Constraints, zone: honor/ignore, node: honor/ignore",
        zone_and_node_pod(node_selector={"foo": ""}),
        inclusion_nodes(),
        foo_pods(a=1, b=1, y=1),
        a=SPREAD,
        b=NODE_AFFINITY,  # real case (upstream alone: fits)
        x=PASS,
        y=UNTOLERATED,  # real case: taints are checked first (upstream alone: spread)
    ),
    spread(
        # zone: pods spread as 1/0; node: 1/~1~/0/~1~; both: node-x.
        "two node inclusion Constraints, zone: honor/honor, node: ignore/ignore",
        make_pod("p", labels={"foo": ""})
        .node_selector({"foo": ""})
        .spread_constraint(1, "zone", DO_NOT_SCHEDULE, FOO_SELECTOR, node_taints_policy=HONOR)
        .spread_constraint(1, "node", DO_NOT_SCHEDULE, FOO_SELECTOR, node_affinity_policy=IGNORE)
        .obj(),
        inclusion_nodes(),
        foo_pods(a=1, b=1, y=1),
        a=SPREAD,
        b=NODE_AFFINITY,  # real case: node affinity is checked first (upstream alone: spread)
        x=PASS,
        y=UNTOLERATED,  # real case: taints are checked first (upstream alone: spread)
    ),
]


def judge(case: Case) -> None:
    got = filter_nodes(case.pod, list(case.nodes), list(case.existing), list(case.namespaces))
    assert_verdicts(got, case.want)


@pytest.mark.parametrize("case", SINGLE_CONSTRAINT, ids=case_ids(SINGLE_CONSTRAINT))
def test_one_spread_constraint_admits_the_nodes_kube_scheduler_admits(case: Case) -> None:
    judge(case)


@pytest.mark.parametrize("case", MULTIPLE_CONSTRAINTS, ids=case_ids(MULTIPLE_CONSTRAINTS))
def test_several_spread_constraints_admit_the_nodes_kube_scheduler_admits(case: Case) -> None:
    judge(case)
