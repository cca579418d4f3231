"""`phalanx simulate` takes upstream's objects exactly as they would be applied: 1.36 (v1alpha2) and 1.37
(v1beta1) Workloads and PodGroups, coscheduling's PodGroup, pods joining with spec.schedulingGroup."""

from __future__ import annotations

from pathlib import Path

import pytest

from scheduler.sim.scenario import Policy, ScenarioError, load_scenario
from scheduler.sim.simulator import Simulation

NODES = "".join(
    f"""---
apiVersion: v1
kind: Node
metadata: {{name: n{i}, labels: {{kubernetes.io/hostname: n{i}, network.phalanx.dev/rack: r{i // 2}}}}}
status:
  allocatable: {{cpu: "8", nvidia.com/gpu: 8, pods: 110}}
  conditions: [{{type: Ready, status: "True"}}]
"""
    for i in range(4)
)


def pods(prefix: str, count: int, joined: str, gpus: int = 4) -> str:
    return "".join(
        f"""---
apiVersion: v1
kind: Pod
metadata:
  name: {prefix}-{i}
  namespace: ml
  annotations: {{sim.phalanx.dev/run-seconds: "600"}}
spec:
  schedulerName: phalanx
  {joined}
  containers: [{{name: c, resources: {{limits: {{nvidia.com/gpu: {gpus}}}}}}}]
"""
        for i in range(count)
    )


UPSTREAM = (
    """\
apiVersion: sim.phalanx.dev/v1alpha1
kind: Scenario
metadata: {name: upstream}
spec:
  simulation: {horizonSeconds: 3600}
  topologyLevels: [network.phalanx.dev/rack, kubernetes.io/hostname]
"""
    + NODES
    + """---
apiVersion: scheduling.k8s.io/v1alpha2
kind: Workload
metadata: {name: train, namespace: ml}
spec:
  controllerRef: {apiGroup: batch, kind: Job, name: train}
  podGroupTemplates:
  - name: workers
    schedulingPolicy: {gang: {minCount: 4}}
    schedulingConstraints: {topology: [{key: network.phalanx.dev/rack}]}
---
apiVersion: scheduling.k8s.io/v1alpha2
kind: PodGroup
metadata: {name: train-workers, namespace: ml}
spec:
  podGroupTemplateRef: {workload: {workloadName: train, podGroupTemplateName: workers}}
  schedulingPolicy: {gang: {minCount: 4}}
  schedulingConstraints: {topology: [{key: network.phalanx.dev/rack}]}
  disruptionMode: PodGroup
---
apiVersion: scheduling.k8s.io/v1beta1
kind: PodGroup
metadata: {name: tune, namespace: ml}
spec:
  workloadRef: {workloadName: tune, templateName: main}
  schedulingPolicy: {gang: {minCount: 2}}
  disruptionMode: {all: {}}
---
apiVersion: scheduling.x-k8s.io/v1alpha1
kind: PodGroup
metadata: {name: co, namespace: ml}
spec: {minMember: 2}
"""
    + pods("train", 4, "schedulingGroup: {podGroupName: train-workers}")
    + pods("tune", 2, "schedulingGroup: {podGroupName: tune}")
    + pods("co", 2, "", gpus=2).replace(
        "  namespace: ml\n", "  namespace: ml\n  labels: {scheduling.x-k8s.io/pod-group: co}\n"
    )
)


def test_a_scenario_of_upstream_objects_as_applied_runs_every_gang_whole(tmp_path: Path) -> None:
    path = tmp_path / "upstream.yaml"
    path.write_text(UPSTREAM)
    scenario = load_scenario(path)
    result = Simulation(scenario, Policy.PHALANX, audit=True).run()
    started = {j.key: j for j in result.jobs if j.started is not None}
    assert {"ml/train-workers", "ml/tune", "ml/co"} <= started.keys()
    assert started["ml/train-workers"].racks == 1  # upstream's required key: the whole of one rack


def test_a_malformed_upstream_podgroup_in_a_scenario_is_an_error_with_its_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(
        UPSTREAM.replace("schedulingPolicy: {gang: {minCount: 2}}", "schedulingPolicy: {gang: {minCount: 0}}")
    )
    with pytest.raises(ScenarioError, match="PodGroup ml/tune"):
        load_scenario(path)
