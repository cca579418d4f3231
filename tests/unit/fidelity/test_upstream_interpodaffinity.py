"""kube-scheduler's InterPodAffinity Filter tables, run against all of our filters.

Source: kubernetes/kubernetes pkg/scheduler/framework/plugins/interpodaffinity/filtering_test.go (the version read
has wantPreFilterStatus/wantFilterStatus and namespaceSelector cases; 59,554 characters), tables
TestRequiredAffinitySingleNode and TestRequiredAffinityMultipleNodes. The namespaces (with their team labels) are
the package's `namespaces` (scoring_test.go); the multiple-nodes table has only "NS1".

Upstream's pods live in the empty namespace; here that is "default" for the incoming and the existing pods alike.
Reasons, checked in this order by upstream's Filter: "node(s) didn't match pod affinity rules",
"node(s) didn't match pod anti-affinity rules", "node(s) didn't satisfy existing pods anti-affinity rules".

Adapted: "Does not satisfy the PodAffinity with labelSelector because of diff Namespace" and "Doesn't satisfy the
PodAffinity because of unmatching labelSelector with the existing pod" give their affinity term an empty
topologyKey, which the API rejects ("Required value: can not be empty"); here it is "region", a key node1 has, so
the pod is valid and the case still turns on what it tests (the namespace, the selector): no pod matches the term,
nor does the incoming pod itself. "Test incoming pod's anti-affinity: even if labelSelector matches, we still
check if topologyKey matches" builds its incoming pod with Node("nodeA"); here it is unbound (a bound pod is not
scheduled).
"pod matches its own Label in PodAffinity and that matches the existing pod Labels" keeps upstream's existing pod
on "node2", a node that is not in the cluster.

Skipped:
- "PodAffinity fails PreFilter with an invalid affinity label syntax", "PodAntiAffinity fails PreFilter with an
  invalid antiaffinity label syntax": the label value "{{.bad-value.}}" fails API validation, so no such pod
  reaches a scheduler; upstream asserts only PreFilter's parse error.
- TestPreFilterDisabled, TestPreFilterStateAddRemovePod, TestPreFilterStateClone,
  TestGetTPMapMatchingIncomingAffinityAntiAffinity: pre-computed state structs and Filter without PreFilter (Go
  internals).
"""

from __future__ import annotations

import pytest

from tests.unit.fidelity.expect import PASS, Case, Want, assert_verdicts, case_ids
from tests.unit.fidelity.harness import filter_nodes
from tests.unit.fidelity.objects import (
    Obj,
    affinity_term,
    label_selector,
    make_namespace,
    make_node,
    make_pod,
    req,
)

AFFINITY = "node(s) didn't match pod affinity rules"  # ErrReasonAffinityRulesNotMatch
ANTI_AFFINITY = "node(s) didn't match pod anti-affinity rules"  # ErrReasonAntiAffinityRulesNotMatch
EXISTING_ANTI_AFFINITY = "node(s) didn't satisfy existing pods anti-affinity rules"  # ...ExistingAntiAffinity...

NAMESPACES = [
    make_namespace("subteam1.team1", {"team": "team1"}),
    make_namespace("subteam2.team1", {"team": "team1"}),
    make_namespace("subteam1.team2", {"team": "team2"}),
    make_namespace("subteam2.team2", {"team": "team2"}),
]

POD_LABEL = {"service": "securityscan"}
POD_LABEL2 = {"security": "S1"}
NODE1 = make_node("node1", {"region": "r1", "zone": "z11"}).obj()

IN_SECURITYSCAN = label_selector(None, req("service", "In", ["securityscan", "value2"]))
TEAM1 = label_selector(None, req("team", "In", ["team1"]))


def securityscan_pod() -> Obj:
    """Upstream's `pod`: st.MakePod().Labels(podLabel).Node("node1")."""
    return make_pod(labels=POD_LABEL, node="node1").obj()


def single(name: str, pod: Obj, existing: list[Obj], want: Want) -> Case:
    return Case(name, pod, [NODE1], {"node1": want}, existing=existing, namespaces=NAMESPACES)


SINGLE_NODE = [
    single(
        "A pod that has no required pod affinity scheduling rules can schedule onto a node with no existing pods",
        make_pod().obj(),
        [],
        PASS,
    ),
    single(
        "satisfies with requiredDuringSchedulingIgnoredDuringExecution in PodAffinity using In operator that "
        "matches the existing pod",
        make_pod(labels=POD_LABEL2).pod_affinity_in("service", "region", ["securityscan", "value2"]).obj(),
        [securityscan_pod()],
        PASS,
    ),
    single(
        "satisfies the pod with requiredDuringSchedulingIgnoredDuringExecution in PodAffinity using not in operator "
        "in labelSelector that matches the existing pod",
        make_pod(labels=POD_LABEL2).pod_affinity_not_in("service", "region", ["securityscan3", "value3"]).obj(),
        [securityscan_pod()],
        PASS,
    ),
    single(
        "Does not satisfy the PodAffinity with labelSelector because of diff Namespace",
        make_pod(labels=POD_LABEL2)
        .pod_affinity(affinity_term(IN_SECURITYSCAN, "region", namespaces=["DiffNameSpace"]))  # upstream: ""
        .obj(),
        [make_pod(namespace="ns", labels={"service": "securityscan"}, node="node1").obj()],
        AFFINITY,
    ),
    single(
        "Doesn't satisfy the PodAffinity because of unmatching labelSelector with the existing pod",
        make_pod(labels=POD_LABEL).pod_affinity_in("service", "region", ["antivirusscan", "value2"]).obj(),  # ""
        [securityscan_pod()],
        AFFINITY,
    ),
    single(
        "satisfies the PodAffinity with different label Operators in multiple RequiredDuringSchedulingIgnoredDuring"
        "Execution ",
        make_pod(labels=POD_LABEL2)
        .pod_affinity(
            affinity_term(label_selector(None, req("service", "Exists"), req("wrongkey", "DoesNotExist")), "region")
        )
        .pod_affinity(
            affinity_term(
                label_selector(None, req("service", "In", ["securityscan"]), req("service", "NotIn", ["WrongValue"])),
                "region",
            )
        )
        .obj(),
        [securityscan_pod()],
        PASS,
    ),
    single(
        "The labelSelector requirements(items of matchExpressions) are ANDed, the pod cannot schedule onto the node "
        "because one of the matchExpression item don't match.",
        make_pod(labels=POD_LABEL2)
        .pod_affinity(
            affinity_term(label_selector(None, req("service", "Exists"), req("wrongkey", "DoesNotExist")), "region")
        )
        .pod_affinity(
            affinity_term(
                label_selector(None, req("service", "In", ["securityscan2"]), req("service", "NotIn", ["WrongValue"])),
                "region",
            )
        )
        .obj(),
        [securityscan_pod()],
        AFFINITY,
    ),
    single(
        "satisfies the PodAffinity and PodAntiAffinity with the existing pod",
        make_pod(labels=POD_LABEL2)
        .pod_affinity_in("service", "region", ["securityscan", "value2"])
        .pod_anti_affinity_in("service", "node", ["antivirusscan", "value2"])
        .obj(),
        [securityscan_pod()],
        PASS,
    ),
    single(
        "satisfies the PodAffinity and PodAntiAffinity and PodAntiAffinity symmetry with the existing pod",
        make_pod(labels=POD_LABEL2)
        .pod_affinity_in("service", "region", ["securityscan", "value2"])
        .pod_anti_affinity_in("service", "node", ["antivirusscan", "value2"])
        .obj(),
        [
            make_pod(labels=POD_LABEL, node="node1")
            .pod_anti_affinity_in("service", "node", ["antivirusscan", "value2"])
            .obj()
        ],
        PASS,
    ),
    single(
        "satisfies the PodAffinity but doesn't satisfy the PodAntiAffinity with the existing pod",
        make_pod(labels=POD_LABEL2)
        .pod_affinity_in("service", "region", ["securityscan", "value2"])
        .pod_anti_affinity_in("service", "zone", ["securityscan", "value2"])
        .obj(),
        [securityscan_pod()],
        ANTI_AFFINITY,
    ),
    single(
        "satisfies the PodAffinity and PodAntiAffinity but doesn't satisfy PodAntiAffinity symmetry with the "
        "existing pod",
        make_pod(labels=POD_LABEL)
        .pod_affinity_in("service", "region", ["securityscan", "value2"])
        .pod_anti_affinity_in("service", "node", ["antivirusscan", "value2"])
        .obj(),
        [
            make_pod(labels=POD_LABEL, node="node1")
            .pod_anti_affinity_in("service", "zone", ["securityscan", "value2"])
            .obj()
        ],
        EXISTING_ANTI_AFFINITY,
    ),
    single(
        "pod matches its own Label in PodAffinity and that matches the existing pod Labels",
        make_pod(labels=POD_LABEL).pod_affinity_not_in("service", "region", ["securityscan", "value2"]).obj(),
        [make_pod(labels={"service": "securityscan"}, node="node2").obj()],
        AFFINITY,
    ),
    single(
        "verify that PodAntiAffinity from existing pod is respected when pod has no AntiAffinity constraints. "
        "doesn't satisfy PodAntiAffinity symmetry with the existing pod",
        make_pod(labels=POD_LABEL).obj(),
        [
            make_pod(labels=POD_LABEL, node="node1")
            .pod_anti_affinity_in("service", "zone", ["securityscan", "value2"])
            .obj()
        ],
        EXISTING_ANTI_AFFINITY,
    ),
    single(
        "verify that PodAntiAffinity from existing pod is respected when pod has no AntiAffinity constraints. "
        "satisfy PodAntiAffinity symmetry with the existing pod",
        make_pod(labels=POD_LABEL).obj(),
        [
            make_pod(labels=POD_LABEL, node="node1")
            .pod_anti_affinity_not_in("service", "zone", ["securityscan", "value2"])
            .obj()
        ],
        PASS,
    ),
    single(
        "satisfies the PodAntiAffinity with existing pod but doesn't satisfy PodAntiAffinity symmetry with incoming "
        "pod",
        make_pod(labels=POD_LABEL)
        .pod_anti_affinity_exists("service", "region")
        .pod_anti_affinity_exists("security", "region")
        .obj(),
        [make_pod(labels=POD_LABEL2, node="node1").pod_anti_affinity_exists("security", "zone").obj()],
        ANTI_AFFINITY,
    ),
    single(
        "PodAntiAffinity symmetry check a1: incoming pod and existing pod partially match each other on AffinityTerms",
        make_pod(labels=POD_LABEL)
        .pod_anti_affinity_exists("service", "zone")
        .pod_anti_affinity_exists("security", "zone")
        .obj(),
        [make_pod(labels=POD_LABEL2, node="node1").pod_anti_affinity_exists("security", "zone").obj()],
        ANTI_AFFINITY,
    ),
    single(
        "PodAntiAffinity symmetry check a2: incoming pod and existing pod partially match each other on AffinityTerms",
        make_pod(labels=POD_LABEL2).pod_anti_affinity_exists("security", "zone").obj(),
        [
            make_pod(labels=POD_LABEL, node="node1")
            .pod_anti_affinity_exists("service", "zone")
            .pod_anti_affinity_exists("security", "zone")
            .obj()
        ],
        EXISTING_ANTI_AFFINITY,
    ),
    single(
        "PodAntiAffinity symmetry check b1: incoming pod and existing pod partially match each other on AffinityTerms",
        make_pod(labels={"abc": "", "xyz": ""})
        .pod_anti_affinity_exists("abc", "zone")
        .pod_anti_affinity_exists("def", "zone")
        .obj(),
        [
            make_pod(labels={"def": "", "xyz": ""}, node="node1")
            .pod_anti_affinity_exists("abc", "zone")
            .pod_anti_affinity_exists("def", "zone")
            .obj()
        ],
        ANTI_AFFINITY,
    ),
    single(
        "PodAntiAffinity symmetry check b2: incoming pod and existing pod partially match each other on AffinityTerms",
        make_pod(labels={"def": "", "xyz": ""})
        .pod_anti_affinity_exists("abc", "zone")
        .pod_anti_affinity_exists("def", "zone")
        .obj(),
        [
            make_pod(labels={"abc": "", "xyz": ""}, node="node1")
            .pod_anti_affinity_exists("abc", "zone")
            .pod_anti_affinity_exists("def", "zone")
            .obj()
        ],
        ANTI_AFFINITY,
    ),
    single(
        "affinity with NamespaceSelector",
        make_pod(labels=POD_LABEL2)
        .pod_affinity(affinity_term(IN_SECURITYSCAN, "region", namespace_selector=TEAM1))
        .obj(),
        [make_pod(namespace="subteam1.team1", labels=POD_LABEL, node="node1").obj()],
        PASS,
    ),
    single(
        "affinity with non-matching NamespaceSelector",
        make_pod(labels=POD_LABEL2)
        .pod_affinity(affinity_term(IN_SECURITYSCAN, "region", namespace_selector=TEAM1))
        .obj(),
        [make_pod(namespace="subteam1.team2", labels=POD_LABEL, node="node1").obj()],
        AFFINITY,
    ),
    single(
        "anti-affinity with matching NamespaceSelector",
        make_pod(namespace="subteam1.team1", labels=POD_LABEL2)
        .pod_anti_affinity(affinity_term(IN_SECURITYSCAN, "zone", namespace_selector=TEAM1))
        .obj(),
        [make_pod(namespace="subteam2.team1", labels=POD_LABEL, node="node1").obj()],
        ANTI_AFFINITY,
    ),
    single(
        "anti-affinity with matching all NamespaceSelector",
        make_pod(namespace="subteam1.team1", labels=POD_LABEL2)
        .pod_anti_affinity(affinity_term(IN_SECURITYSCAN, "zone", namespace_selector=label_selector()))
        .obj(),
        [make_pod(namespace="subteam2.team1", labels=POD_LABEL, node="node1").obj()],
        ANTI_AFFINITY,
    ),
    single(
        "anti-affinity with non-matching NamespaceSelector",
        make_pod(namespace="subteam1.team1", labels=POD_LABEL2)
        .pod_anti_affinity(affinity_term(IN_SECURITYSCAN, "zone", namespace_selector=TEAM1))
        .obj(),
        [make_pod(namespace="subteam1.team2", labels=POD_LABEL, node="node1").obj()],
        PASS,
    ),
]

RG_CHINA = {"region": "China"}
RG_CHINA_AZ_AZ1 = {"region": "China", "az": "az1"}
RG_INDIA = {"region": "India"}


def nodes(**labels: dict[str, str]) -> list[Obj]:
    return [make_node(name, node_labels).obj() for name, node_labels in labels.items()]


def host(name: str, region: str, zone: str) -> dict[str, str]:
    """The labels upstream gives nodeA, nodeB, nodeC in its later cases."""
    return {"region": region, "zone": zone, "hostname": name}


def multiple(name: str, pod: Obj, existing: list[Obj], cluster: list[Obj], *want: Want) -> Case:
    """A case over several nodes; `want` lists upstream's wantFilterStatuses in the nodes' order."""
    verdicts = {node["metadata"]["name"]: verdict for node, verdict in zip(cluster, want, strict=True)}
    return Case(name, pod, cluster, verdicts, existing=existing, namespaces=[make_namespace("NS1")])


AB_SAME_ZONE = nodes(nodeA=host("nodeA", "r1", "z1"), nodeB=host("nodeB", "r1", "z1"))
AB_TWO_ZONES = nodes(nodeA=host("nodeA", "r1", "z1"), nodeB=host("nodeB", "r1", "z2"))

MULTIPLE_NODES = [
    multiple(
        "A pod can be scheduled onto all the nodes that have the same topology key & label value with one of them "
        "has an existing pod that matches the affinity rules",
        make_pod().pod_affinity_in("foo", "region", ["bar"]).obj(),
        [make_pod("p1", labels={"foo": "bar"}, node="node1").obj()],
        nodes(node1=RG_CHINA, node2=RG_CHINA_AZ_AZ1, node3=RG_INDIA),
        PASS,
        PASS,
        AFFINITY,
    ),
    multiple(
        "The affinity rule is to schedule all of the pods of this collection to the same zone. The first pod of the "
        "collection should not be blocked from being scheduled onto any node, even there's no existing pod that "
        "matches the rule anywhere.",
        make_pod(labels={"foo": "bar", "service": "securityscan"})
        .pod_affinity_in("foo", "zone", ["bar"])
        .pod_affinity_in("service", "zone", ["securityscan"])
        .obj(),
        [make_pod("p1", labels={"foo": "bar"}, node="nodeA").obj()],
        nodes(nodeA={"zone": "az1", "hostname": "h1"}, nodeB={"zone": "az2", "hostname": "h2"}),
        PASS,
        PASS,
    ),
    multiple(
        "The first pod of the collection can only be scheduled on nodes labelled with the requested topology keys",
        make_pod(labels={"foo": "bar", "service": "securityscan"})
        .pod_affinity_in("foo", "zone", ["bar"])
        .pod_affinity_in("service", "zone", ["securityscan"])
        .obj(),
        [make_pod("p1", labels={"foo": "bar"}, node="nodeA").obj()],
        nodes(nodeA={"zoneLabel": "az1", "hostname": "h1"}, nodeB={"zoneLabel": "az2", "hostname": "h2"}),
        AFFINITY,
        AFFINITY,
    ),
    multiple(
        "NodeA and nodeB have same topologyKey and label value. NodeA has an existing pod that matches the inter pod "
        "affinity rule. The pod can not be scheduled onto nodeA and nodeB.",
        make_pod().pod_anti_affinity_in("foo", "region", ["abc"]).obj(),
        [make_pod(labels={"foo": "abc"}, node="nodeA").obj()],
        nodes(nodeA={"region": "r1", "hostname": "nodeA"}, nodeB={"region": "r1", "hostname": "nodeB"}),
        ANTI_AFFINITY,
        ANTI_AFFINITY,
    ),
    multiple(
        "This test ensures that anti-affinity matches a pod when any term of the anti-affinity rule matches a pod.",
        make_pod()
        .pod_anti_affinity_in("foo", "region", ["abc"])
        .pod_anti_affinity_in("service", "zone", ["securityscan"])
        .obj(),
        [make_pod(labels={"foo": "abc", "service": "securityscan"}, node="nodeA").obj()],
        AB_TWO_ZONES,
        ANTI_AFFINITY,
        ANTI_AFFINITY,
    ),
    multiple(
        "NodeA and nodeB have same topologyKey and label value. NodeA has an existing pod that matches the inter pod "
        "affinity rule. The pod can not be scheduled onto nodeA and nodeB but can be scheduled onto nodeC",
        make_pod().pod_anti_affinity_in("foo", "region", ["abc"]).obj(),
        [make_pod(labels={"foo": "abc"}, node="nodeA").obj()],
        nodes(nodeA=RG_CHINA, nodeB=RG_CHINA_AZ_AZ1, nodeC=RG_INDIA),
        ANTI_AFFINITY,
        ANTI_AFFINITY,
        PASS,
    ),
    multiple(
        "NodeA and nodeB have same topologyKey and label value. NodeA has an existing pod that matches the inter pod "
        "affinity rule. The pod can not be scheduled onto nodeA, nodeB, but can be scheduled onto nodeC (NodeC has "
        "an existing pod that match the inter pod affinity rule but in different namespace)",
        make_pod(namespace="NS1", labels={"foo": "123"}).pod_anti_affinity_in("foo", "region", ["bar"]).obj(),
        [
            make_pod(namespace="NS1", labels={"foo": "bar"}, node="nodeA").obj(),
            make_pod(namespace="NS2", node="nodeC").pod_anti_affinity_in("foo", "region", ["123"]).obj(),
        ],
        nodes(nodeA=RG_CHINA, nodeB=RG_CHINA_AZ_AZ1, nodeC=RG_INDIA),
        ANTI_AFFINITY,
        ANTI_AFFINITY,
        PASS,
    ),
    multiple(
        "Test existing pod's anti-affinity: if an existing pod has a term with invalid topologyKey, labelSelector of "
        "the term is firstly checked, and then topologyKey of the term is also checked",
        make_pod(labels={"foo": ""}).obj(),
        [make_pod(node="nodeA").pod_anti_affinity_exists("foo", "invalid-node-label").obj()],
        AB_SAME_ZONE,
        PASS,
        PASS,
    ),
    multiple(
        "Test incoming pod's anti-affinity: even if labelSelector matches, we still check if topologyKey matches",
        make_pod().pod_anti_affinity_exists("foo", "invalid-node-label").obj(),
        [make_pod(labels={"foo": ""}, node="nodeA").obj()],
        AB_SAME_ZONE,
        PASS,
        PASS,
    ),
    multiple(
        "Test existing pod's anti-affinity: incoming pod wouldn't considered as a fit as it violates each "
        "existingPod's terms on all nodes",
        make_pod(labels={"foo": "", "bar": ""}).obj(),
        [
            make_pod(node="nodeA").pod_anti_affinity_exists("foo", "zone").obj(),
            make_pod(node="nodeA").pod_anti_affinity_exists("bar", "region").obj(),
        ],
        AB_TWO_ZONES,
        EXISTING_ANTI_AFFINITY,
        EXISTING_ANTI_AFFINITY,
    ),
    multiple(
        "Test incoming pod's anti-affinity: incoming pod wouldn't considered as a fit as it at least violates one "
        "anti-affinity rule of existingPod",
        make_pod().pod_anti_affinity_exists("foo", "zone").pod_anti_affinity_exists("bar", "region").obj(),
        [
            make_pod(labels={"foo": ""}, node="nodeA").obj(),
            make_pod(labels={"bar": ""}, node="nodeB").obj(),
        ],
        AB_TWO_ZONES,
        ANTI_AFFINITY,
        ANTI_AFFINITY,
    ),
    multiple(
        "Test existing pod's anti-affinity: only when labelSelector and topologyKey both match, it's counted as a "
        "single term match - case when one term has invalid topologyKey",
        make_pod(labels={"foo": "", "bar": ""}).obj(),
        [
            make_pod(node="nodeA")
            .pod_anti_affinity_exists("foo", "invalid-node-label")
            .pod_anti_affinity_exists("bar", "zone")
            .obj()
        ],
        AB_TWO_ZONES,
        EXISTING_ANTI_AFFINITY,
        PASS,
    ),
    multiple(
        "Test incoming pod's anti-affinity: only when labelSelector and topologyKey both match, it's counted as a "
        "single term match - case when one term has invalid topologyKey",
        make_pod().pod_anti_affinity_exists("foo", "invalid-node-label").pod_anti_affinity_exists("bar", "zone").obj(),
        [make_pod("podA", labels={"foo": "", "bar": ""}, node="nodeA").obj()],
        AB_TWO_ZONES,
        ANTI_AFFINITY,
        PASS,
    ),
    multiple(
        "Test existing pod's anti-affinity: only when labelSelector and topologyKey both match, it's counted as a "
        "single term match - case when all terms have valid topologyKey",
        make_pod(labels={"foo": "", "bar": ""}).obj(),
        [
            make_pod(node="nodeA")
            .pod_anti_affinity_exists("foo", "region")
            .pod_anti_affinity_exists("bar", "zone")
            .obj()
        ],
        AB_TWO_ZONES,
        EXISTING_ANTI_AFFINITY,
        EXISTING_ANTI_AFFINITY,
    ),
    multiple(
        "Test incoming pod's anti-affinity: only when labelSelector and topologyKey both match, it's counted as a "
        "single term match - case when all terms have valid topologyKey",
        make_pod().pod_anti_affinity_exists("foo", "region").pod_anti_affinity_exists("bar", "zone").obj(),
        [make_pod(labels={"foo": "", "bar": ""}, node="nodeA").obj()],
        AB_TWO_ZONES,
        ANTI_AFFINITY,
        ANTI_AFFINITY,
    ),
    multiple(
        "Test existing pod's anti-affinity: existingPod on nodeA and nodeB has at least one anti-affinity term "
        "matches incoming pod, so incoming pod can only be scheduled to nodeC",
        make_pod(labels={"foo": "", "bar": ""}).obj(),
        [
            make_pod(node="nodeA")
            .pod_anti_affinity_exists("foo", "zone")
            .pod_anti_affinity_exists("labelA", "zone")
            .obj(),
            make_pod(node="nodeB")
            .pod_anti_affinity_exists("bar", "zone")
            .pod_anti_affinity_exists("labelB", "zone")
            .obj(),
        ],
        nodes(
            nodeA=host("nodeA", "r1", "z1"),
            nodeB=host("nodeB", "r1", "z2"),
            nodeC=host("nodeC", "r1", "z3"),
        ),
        EXISTING_ANTI_AFFINITY,
        EXISTING_ANTI_AFFINITY,
        PASS,
    ),
    multiple(
        "Test incoming pod's affinity: firstly check if all affinityTerms match, and then check if all topologyKeys "
        "match",
        make_pod().pod_affinity_exists("foo", "region").pod_affinity_exists("bar", "zone").obj(),
        [make_pod("pod1", labels={"foo": "", "bar": ""}, node="nodeA").obj()],
        AB_SAME_ZONE,
        PASS,
        PASS,
    ),
    multiple(
        # An existing pod counts only if it matches every affinity term: pod1 and pod2 each match one.
        "Test incoming pod's affinity: firstly check if all affinityTerms match, and then check if all topologyKeys "
        "match, and the match logic should be satisfied on the same pod",
        make_pod().pod_affinity_exists("foo", "region").pod_affinity_exists("bar", "zone").obj(),
        [
            make_pod("pod1", labels={"foo": ""}, node="nodeA").obj(),
            make_pod("pod2", labels={"bar": ""}, node="nodeB").obj(),
        ],
        AB_TWO_ZONES,
        AFFINITY,
        AFFINITY,
    ),
]


def judge(case: Case) -> None:
    got = filter_nodes(case.pod, list(case.nodes), list(case.existing), list(case.namespaces))
    assert_verdicts(got, case.want)


@pytest.mark.parametrize("case", SINGLE_NODE, ids=case_ids(SINGLE_NODE))
def test_pod_affinity_and_anti_affinity_admit_a_node_as_kube_scheduler_does(case: Case) -> None:
    judge(case)


@pytest.mark.parametrize("case", MULTIPLE_NODES, ids=case_ids(MULTIPLE_NODES))
def test_pod_affinity_and_anti_affinity_pick_the_nodes_kube_scheduler_picks(case: Case) -> None:
    judge(case)
