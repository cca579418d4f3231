"""kube-scheduler's NodeUnschedulable Filter table (TestNodeUnschedulable), run against all of our filters.

Source: kubernetes/kubernetes pkg/scheduler/framework/plugins/nodeunschedulable/node_unschedulable_test.go (the
version read is commit b574b11f6b28f06e17333bb110e9374db3259bad), TestNodeUnschedulable; the reason is
ErrReasonUnschedulable, "node(s) were unschedulable". Upstream's nodes have no name; here they are "node1". As
upstream, the cordoned node carries only spec.unschedulable, not the node.kubernetes.io/unschedulable taint the
node lifecycle controller would add.

Skipped: nothing from TestNodeUnschedulable. TestIsSchedulableAfterNodeChange tests queueing hints, not Filter.
"""

from __future__ import annotations

import pytest

from tests.unit.fidelity.expect import PASS, Case, assert_verdicts, case_ids
from tests.unit.fidelity.harness import filter_nodes
from tests.unit.fidelity.objects import make_node, make_pod

ERR_REASON_UNSCHEDULABLE = "node(s) were unschedulable"
TAINT_NODE_UNSCHEDULABLE = "node.kubernetes.io/unschedulable"  # v1.TaintNodeUnschedulable

CASES = [
    Case(
        "Does not schedule pod to unschedulable node (node.Spec.Unschedulable==true)",
        make_pod().obj(),
        [make_node("node1").unschedulable().obj()],
        {"node1": ERR_REASON_UNSCHEDULABLE},
    ),
    Case(
        "Schedule pod to normal node",
        make_pod().obj(),
        [make_node("node1").unschedulable(False).obj()],
        {"node1": PASS},
    ),
    Case(
        "Schedule pod with toleration to unschedulable node (node.Spec.Unschedulable==true)",
        make_pod().toleration(TAINT_NODE_UNSCHEDULABLE, effect="NoSchedule").obj(),
        [make_node("node1").unschedulable().obj()],
        {"node1": PASS},
    ),
]


@pytest.mark.parametrize("case", CASES, ids=case_ids(CASES))
def test_a_pod_passes_a_cordon_exactly_where_kube_scheduler_says(case: Case) -> None:
    got = filter_nodes(case.pod, list(case.nodes), list(case.existing), list(case.namespaces))
    assert_verdicts(got, case.want)
