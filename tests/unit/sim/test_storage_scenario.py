"""Scenario files carry claims, volumes, classes and namespaces into the same StorageIndex the operator fills."""

from pathlib import Path

import pytest

from scheduler.sim.replay import load_state
from scheduler.sim.scenario import ScenarioError, load_scenario

STORAGE = """\
apiVersion: v1
kind: Node
metadata: {name: n1, labels: {kubernetes.io/hostname: n1}}
status: {allocatable: {cpu: "8", memory: 32Gi, pods: 110}}
---
apiVersion: v1
kind: Namespace
metadata: {name: ml, labels: {team: research}}
---
apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata: {name: local}
provisioner: kubernetes.io/no-provisioner
volumeBindingMode: WaitForFirstConsumer
---
apiVersion: v1
kind: PersistentVolume
metadata: {name: local-n1}
spec:
  storageClassName: local
  capacity: {storage: 100Gi}
  accessModes: [ReadWriteOnce]
  claimRef: {namespace: ml, name: data}
  nodeAffinity:
    required:
      nodeSelectorTerms:
      - matchExpressions: [{key: kubernetes.io/hostname, operator: In, values: [n1]}]
---
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: data, namespace: ml}
spec: {storageClassName: local, volumeName: local-n1, accessModes: [ReadWriteOnce]}
status: {phase: Bound}
"""


def test_storage_documents_feed_the_engine_storage_index(tmp_path: Path) -> None:
    path = tmp_path / "scenario.yaml"
    path.write_text(STORAGE)
    state = load_state(load_scenario(path))
    assert state.storage.claims["ml/data"].fully_bound
    assert state.storage.volumes["local-n1"].spec.claim_ref is not None
    assert state.storage.classes["local"].wait_for_first_consumer
    assert state.namespaces == {"ml": {"team": "research"}}


def test_a_bad_storage_document_is_refused_naming_file_line_and_field(tmp_path: Path) -> None:
    path = tmp_path / "scenario.yaml"
    path.write_text(STORAGE.replace("volumeBindingMode: WaitForFirstConsumer", "volumeBindingMode: Later"))
    with pytest.raises(ScenarioError, match=r"scenario.yaml:\d+: StorageClass local: volumeBindingMode"):
        load_scenario(path)
