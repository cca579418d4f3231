"""kube-scheduler's NodeAffinity Filter table (TestNodeAffinity), run against all of our filters.

Source: kubernetes/kubernetes pkg/scheduler/framework/plugins/nodeaffinity/node_affinity_test.go (the version read
is commit 022462ccaeb5664cfd0c860978624bb0619aaa01), TestNodeAffinity. Upstream runs one plugin on one node; here
the same pod and node go through every filter, so the node is otherwise a perfect fit (Ready, untainted, roomy).
Upstream's reason for every failure is ErrReasonPod, "node(s) didn't match Pod's node affinity/selector". A case
whose node has no name upstream gets "node1" (none of those cases looks at the name).

Skipped:
- "Matches added affinity and Pod's node affinity", "Matches added affinity but not Pod's node affinity",
  "Doesn't match added affinity": they configure NodeAffinityArgs.addedAffinity, a scheduler-profile argument,
  not part of the default profile we match.
- "Matches node selector correctly even if PreFilter is not called", "Matches node affinity correctly even if
  PreFilter is not called": they test that Filter works without PreFilter's cycle state (Go internals); their
  pods and nodes repeat "node labels are superset" and "Pod with multiple matchExpressions ANDed that matches the
  existing node".
- PreFilter-only expectations (wantPreFilterResult node-name sets, the PreFilter Skip status) are not asserted;
  the Filter outcome of those cases is.
"""

from __future__ import annotations

import pytest

from tests.unit.fidelity.expect import PASS, Case, assert_verdicts, case_ids
from tests.unit.fidelity.harness import filter_nodes
from tests.unit.fidelity.objects import Obj, make_node, make_pod, node_term, req

ERR_REASON_POD = "node(s) didn't match Pod's node affinity/selector"
NAME = "metadata.name"  # metav1.ObjectNameField


def one_node(name: str, labels: dict[str, str] | None = None) -> list[Obj]:
    return [make_node(name, labels).obj()]


CASES = [
    Case(
        "missing labels",
        make_pod().node_selector({"foo": "bar"}).obj(),
        one_node("node1"),
        {"node1": ERR_REASON_POD},
    ),
    Case(
        "same labels",
        make_pod().node_selector({"foo": "bar"}).obj(),
        one_node("node1", {"foo": "bar"}),
        {"node1": PASS},
    ),
    Case(
        "node labels are superset",
        make_pod().node_selector({"foo": "bar"}).obj(),
        one_node("node1", {"foo": "bar", "baz": "blah"}),
        {"node1": PASS},
    ),
    Case(
        "node labels are subset",
        make_pod().node_selector({"foo": "bar", "baz": "blah"}).obj(),
        one_node("node1", {"foo": "bar"}),
        {"node1": ERR_REASON_POD},
    ),
    Case(
        "Pod with matchExpressions using In operator that matches the existing node",
        make_pod().node_affinity(node_term([req("foo", "In", ["bar", "value2"])])).obj(),
        one_node("node1", {"foo": "bar"}),
        {"node1": PASS},
    ),
    Case(
        "Pod with matchExpressions using Gt operator that matches the existing node",
        make_pod().node_affinity(node_term([req("kernel-version", "Gt", ["0204"])])).obj(),
        # Two digits for the major version and two for the minor one.
        one_node("node1", {"kernel-version": "0206"}),
        {"node1": PASS},
    ),
    Case(
        "Pod with matchExpressions using NotIn operator that matches the existing node",
        make_pod().node_affinity(node_term([req("mem-type", "NotIn", ["DDR", "DDR2"])])).obj(),
        one_node("node1", {"mem-type": "DDR3"}),
        {"node1": PASS},
    ),
    Case(
        "Pod with matchExpressions using Exists operator that matches the existing node",
        make_pod().node_affinity(node_term([req("GPU", "Exists")])).obj(),
        one_node("node1", {"GPU": "NVIDIA-GRID-K1"}),
        {"node1": PASS},
    ),
    Case(
        "Pod with affinity that don't match node's labels won't schedule onto the node",
        make_pod().node_affinity(node_term([req("foo", "In", ["value1", "value2"])])).obj(),
        one_node("node1", {"foo": "bar"}),
        {"node1": ERR_REASON_POD},
    ),
    Case(
        "Pod with empty MatchExpressions is not a valid value will match no objects and won't schedule onto the node",
        make_pod().node_affinity(node_term([])).obj(),
        one_node("node1", {"foo": "bar"}),
        {"node1": ERR_REASON_POD},
    ),
    Case(
        "Pod with no Affinity will schedule onto a node",
        make_pod().obj(),
        one_node("node1", {"foo": "bar"}),
        {"node1": PASS},
    ),
    Case(
        "Pod with Affinity but nil NodeSelector will schedule onto a node",
        make_pod().empty_node_affinity().obj(),
        one_node("node1", {"foo": "bar"}),
        {"node1": PASS},
    ),
    Case(
        "Pod with multiple matchExpressions ANDed that matches the existing node",
        make_pod().node_affinity(node_term([req("GPU", "Exists"), req("GPU", "NotIn", ["AMD", "INTER"])])).obj(),
        one_node("node1", {"GPU": "NVIDIA-GRID-K1"}),
        {"node1": PASS},
    ),
    Case(
        "Pod with multiple matchExpressions ANDed that doesn't match the existing node",
        make_pod().node_affinity(node_term([req("GPU", "Exists"), req("GPU", "In", ["AMD", "INTER"])])).obj(),
        one_node("node1", {"GPU": "NVIDIA-GRID-K1"}),
        {"node1": ERR_REASON_POD},
    ),
    Case(
        "Pod with multiple NodeSelectorTerms ORed in affinity, matches the node's labels and will schedule onto the "
        "node",
        make_pod()
        .node_affinity(
            node_term([req("foo", "In", ["bar", "value2"])]),
            node_term([req("diffkey", "In", ["wrong", "value2"])]),
        )
        .obj(),
        one_node("node1", {"foo": "bar"}),
        {"node1": PASS},
    ),
    Case(
        "Pod with an Affinity and a PodSpec.NodeSelector(the old thing that we are deprecating) both are satisfied, "
        "will schedule onto the node",
        make_pod().node_selector({"foo": "bar"}).node_affinity(node_term([req("foo", "Exists")])).obj(),
        one_node("node1", {"foo": "bar"}),
        {"node1": PASS},
    ),
    Case(
        "Pod with an Affinity matches node's labels but the PodSpec.NodeSelector(the old thing that we are "
        "deprecating) is not satisfied, won't schedule onto the node",
        make_pod().node_selector({"foo": "bar"}).node_affinity(node_term([req("foo", "Exists")])).obj(),
        one_node("node1", {"foo": "barrrrrr"}),
        {"node1": ERR_REASON_POD},
    ),
    Case(
        # A value that is not a valid label value makes the requirement (and so the term) match nothing, even
        # with NotIn.
        "Pod with an invalid value in Affinity term won't be scheduled onto the node",
        make_pod().node_affinity(node_term([req("foo", "NotIn", ["invalid value: ___@#$%^"])])).obj(),
        one_node("node1", {"foo": "bar"}),
        {"node1": ERR_REASON_POD},
    ),
    Case(
        "Pod with matchFields using In operator that matches the existing node",
        make_pod().node_affinity(node_term(match_fields=[req(NAME, "In", ["node1"])])).obj(),
        one_node("node1"),
        {"node1": PASS},
    ),
    Case(
        "Pod with matchFields using In operator that does not match the existing node",
        make_pod().node_affinity(node_term(match_fields=[req(NAME, "In", ["node1"])])).obj(),
        one_node("node2"),
        {"node2": ERR_REASON_POD},
    ),
    Case(
        "Pod with two terms: matchFields does not match, but matchExpressions matches",
        make_pod()
        .node_affinity(
            node_term(match_fields=[req(NAME, "In", ["node1"]), req(NAME, "In", ["node2"])]),
            node_term([req("foo", "In", ["bar"])]),
        )
        .obj(),
        one_node("node2", {"foo": "bar"}),
        {"node2": PASS},
    ),
    Case(
        "Pod with one term: matchFields does not match, but matchExpressions matches",
        make_pod()
        .node_affinity(node_term([req("foo", "In", ["bar"])], match_fields=[req(NAME, "In", ["node1"])]))
        .obj(),
        one_node("node2", {"foo": "bar"}),
        {"node2": ERR_REASON_POD},
    ),
    Case(
        "Pod with one term: both matchFields and matchExpressions match",
        make_pod()
        .node_affinity(node_term([req("foo", "In", ["bar"])], match_fields=[req(NAME, "In", ["node1"])]))
        .obj(),
        one_node("node1", {"foo": "bar"}),
        {"node1": PASS},
    ),
    Case(
        "Pod with two terms: both matchFields and matchExpressions do not match",
        make_pod()
        .node_affinity(
            node_term(match_fields=[req(NAME, "In", ["node1"])]),
            node_term([req("foo", "In", ["not-match-to-bar"])]),
        )
        .obj(),
        one_node("node2", {"foo": "bar"}),
        {"node2": ERR_REASON_POD},
    ),
    Case(
        "Pod with two terms of node.Name affinity",
        make_pod()
        .node_affinity(
            node_term(match_fields=[req(NAME, "In", ["node1"])]),
            node_term(match_fields=[req(NAME, "In", ["node2"])]),
        )
        .obj(),
        one_node("node2"),
        {"node2": PASS},
    ),
    Case(
        "Pod with two conflicting mach field requirements",
        make_pod()
        .node_affinity(node_term(match_fields=[req(NAME, "In", ["node1"]), req(NAME, "In", ["node2"])]))
        .obj(),
        one_node("node2", {"foo": "bar"}),
        {"node2": ERR_REASON_POD},
    ),
]


@pytest.mark.parametrize("case", CASES, ids=case_ids(CASES))
def test_a_pod_passes_node_affinity_exactly_where_kube_scheduler_says(case: Case) -> None:
    got = filter_nodes(case.pod, list(case.nodes), list(case.existing), list(case.namespaces))
    assert_verdicts(got, case.want)
