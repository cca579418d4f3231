"""kube-scheduler's TaintToleration Filter table (TestTaintTolerationFilter), run against all of our filters.

Source: kubernetes/kubernetes pkg/scheduler/framework/plugins/tainttoleration/taint_toleration_test.go (the version
read is commit 04c0d74f8e8bf18e93a9d8d082b218d3eb4c6395), TestTaintTolerationFilter. Upstream's reason for every
failure in that version is "node(s) had untolerated taint(s)" (older releases said
"node(s) had untolerated taint {key: value}").

Skipped:
- The five Gt/Lt cases ("Pod with Gt toleration cannot be scheduled on node when taint value is lower than
  threshold", "... can be scheduled ... higher than threshold", the two Lt ones, "Pod with Gt toleration cannot be
  scheduled on node with non-numeric taint value"): they need the alpha TaintTolerationComparisonOperators feature
  gate, off in the default configuration (and the API server rejects those operators without it).
- TestTaintTolerationFilterWithFeatureGate: the same operators with the gate on and off (feature-gate plumbing).
"""

from __future__ import annotations

import pytest

from tests.unit.fidelity.expect import PASS, Case, assert_verdicts, case_ids
from tests.unit.fidelity.harness import filter_nodes
from tests.unit.fidelity.objects import make_node, make_pod

UNTOLERATED = "node(s) had untolerated taint"  # ours goes on to name the taint: {key: value}

CASES = [
    Case(
        "A pod having no tolerations can't be scheduled onto a node with nonempty taints",
        make_pod("pod1").obj(),
        [make_node("nodeA").taint("dedicated", "user1", "NoSchedule").obj()],
        {"nodeA": UNTOLERATED},
    ),
    Case(
        "A pod which can be scheduled on a dedicated node assigned to user1 with effect NoSchedule",
        make_pod("pod1").toleration("dedicated", value="user1", effect="NoSchedule").obj(),
        [make_node("nodeA").taint("dedicated", "user1", "NoSchedule").obj()],
        {"nodeA": PASS},
    ),
    Case(
        "A pod which can't be scheduled on a dedicated node assigned to user2 with effect NoSchedule",
        make_pod("pod1").toleration("dedicated", "Equal", "user2", "NoSchedule").obj(),
        [make_node("nodeA").taint("dedicated", "user1", "NoSchedule").obj()],
        {"nodeA": UNTOLERATED},
    ),
    Case(
        "A pod can be scheduled onto the node, with a toleration uses operator Exists that tolerates the taints on "
        "the node",
        make_pod("pod1").toleration("foo", "Exists", effect="NoSchedule").obj(),
        [make_node("nodeA").taint("foo", "bar", "NoSchedule").obj()],
        {"nodeA": PASS},
    ),
    Case(
        "A pod has multiple tolerations, node has multiple taints, all the taints are tolerated, pod can be "
        "scheduled onto the node",
        make_pod("pod1")
        .toleration("dedicated", "Equal", "user2", "NoSchedule")
        .toleration("foo", "Exists", effect="NoSchedule")
        .obj(),
        [make_node("nodeA").taint("dedicated", "user2", "NoSchedule").taint("foo", "bar", "NoSchedule").obj()],
        {"nodeA": PASS},
    ),
    Case(
        "A pod has a toleration that keys and values match the taint on the node, but (non-empty) effect doesn't "
        "match, can't be scheduled onto the node",
        make_pod("pod1").toleration("foo", "Equal", "bar", "PreferNoSchedule").obj(),
        [make_node("nodeA").taint("foo", "bar", "NoSchedule").obj()],
        {"nodeA": UNTOLERATED},
    ),
    Case(
        "The pod has a toleration that keys and values match the taint on the node, the effect of toleration is "
        "empty, and the effect of taint is NoSchedule. Pod can be scheduled onto the node",
        make_pod("pod1").toleration("foo", "Equal", "bar").obj(),
        [make_node("nodeA").taint("foo", "bar", "NoSchedule").obj()],
        {"nodeA": PASS},
    ),
    Case(
        "The pod has a toleration that key and value don't match the taint on the node, but the effect of taint on "
        "node is PreferNoSchedule. Pod can be scheduled onto the node",
        make_pod("pod1").toleration("dedicated", "Equal", "user2", "NoSchedule").obj(),
        [make_node("nodeA").taint("dedicated", "user1", "PreferNoSchedule").obj()],
        {"nodeA": PASS},
    ),
    Case(
        "The pod has no toleration, but the effect of taint on node is PreferNoSchedule. Pod can be scheduled onto "
        "the node",
        make_pod("pod1").obj(),
        [make_node("nodeA").taint("dedicated", "user1", "PreferNoSchedule").obj()],
        {"nodeA": PASS},
    ),
]


@pytest.mark.parametrize("case", CASES, ids=case_ids(CASES))
def test_a_pod_passes_taints_exactly_where_kube_scheduler_says(case: Case) -> None:
    got = filter_nodes(case.pod, list(case.nodes), list(case.existing), list(case.namespaces))
    assert_verdicts(got, case.want)
