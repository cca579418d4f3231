#!/usr/bin/env python3
"""Scale benchmarks: figures, targets and ratios from one run on this machine; not pass/fail.

1. Cache memory at 5,000 nodes / 50,000 pods, without an API server: the engine's cache built as the operator
   builds it (ClusterState with the default topology levels; Node.model_validate -> strip_node -> upsert_node,
   lean_pod -> pod_info -> upsert_pod, as kube/cache.py does) from realistic pod JSON (pod-template-hash and a
   ReplicaSet owner, 2 containers with requests and limits, env vars, volume mounts, tolerations, a
   nodeSelector; 40 % bound, the rest pending; 3 % with required podAntiAffinity), every body round-tripped
   through JSON text so no string
   is shared between pods (as off the wire); then one snapshot and one scheduling decision. Peak RSS
   (getrusage maxrss) and its growth over a baseline taken after the imports. The measurement runs in a fresh
   child process of this interpreter: maxrss is a process high-water mark, and under hack/bench.py the benches
   before this one would already have raised it.
2. A 512-pod gang (one block required, one rack preferred; bench_placement.py's) on 65,536 nodes, 35 % busy:
   median of a few runs of place_gang, and its ratio to the same gang on 16,384 nodes measured in this run.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench import write_json
from bench_placement import bench_big_gang, cluster

from scheduler.api.config import DEFAULT_LEVELS
from scheduler.api.core import Node
from scheduler.engine.cycle import Scheduler
from scheduler.engine.state import ClusterState, pod_info
from scheduler.engine.units import pending_units
from scheduler.kube.cache import lean_pod
from scheduler.kube.integrations import FOLLOWED
from scheduler.topology.nodes import strip_node
from scheduler.topology.tree import TopologyTree

ZONE, BLOCK, RACK, HOST = DEFAULT_LEVELS
GI, MI = 2**30, 2**20
MEMORY_TARGET = GI  # peak RSS of the whole process
GANG_TARGET_S = 0.100  # median, 65,536 nodes
NODES = (2, 5, 20, 25)  # zones x blocks x racks x nodes: 5,000
PODS = 50_000
REPLICAS = 25  # pods per ReplicaSet: 2,000 of them at 50,000 pods
NAMESPACES = 40
SCHEDULER = "phalanx"
INSTANCE_TYPE = "p5.48xlarge"
T0 = datetime(2025, 3, 1, 8, 0, tzinfo=UTC)


# Realistic objects ----------------------------------------------------------------------------------------------


def stamp(seconds: float) -> str:
    return (T0 + timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%SZ")


def node_body(z: int, b: int, r: int, n: int) -> dict[str, Any]:
    name = f"z{z}b{b}r{r}n{n}"
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "uid": str(uuid.uuid4()),
            "resourceVersion": str(1000 + n),
            "creationTimestamp": stamp(0),
            "labels": {
                "beta.kubernetes.io/arch": "amd64",
                "beta.kubernetes.io/os": "linux",
                "kubernetes.io/arch": "amd64",
                "kubernetes.io/os": "linux",
                "node.kubernetes.io/instance-type": INSTANCE_TYPE,
                "nvidia.com/gpu.product": "NVIDIA-H100-80GB-HBM3",
                "nvidia.com/gpu.count": "8",
                ZONE: f"z{z}",
                BLOCK: f"z{z}b{b}",
                RACK: f"z{z}b{b}r{r}",
                HOST: name,
            },
            "annotations": {
                "node.alpha.kubernetes.io/ttl": "0",
                "volumes.kubernetes.io/controller-managed-attach-detach": "true",
            },
            "managedFields": [
                {"manager": "kubelet", "operation": "Update", "apiVersion": "v1", "time": stamp(60), "fieldsV1": {}}
            ],
        },
        "spec": {
            "podCIDR": f"10.{z * 16 + b}.{r * 10 + n // 10}.0/24",
            "providerID": f"aws:///z{z}/i-{uuid.uuid4().hex[:17]}",
            "taints": [{"key": "nvidia.com/gpu", "value": "present", "effect": "NoSchedule"}],
        },
        "status": {
            "capacity": {"cpu": "192", "memory": "2097152Mi", "nvidia.com/gpu": "8", "pods": "110"},
            "allocatable": {"cpu": "191450m", "memory": "2055000Mi", "nvidia.com/gpu": "8", "pods": "110"},
            "conditions": [
                {"type": t, "status": "False", "reason": f"Kubelet Has No {t}", "lastHeartbeatTime": stamp(90)}
                for t in ("MemoryPressure", "DiskPressure", "PIDPressure")
            ]
            + [{"type": "Ready", "status": "True", "reason": "KubeletReady", "lastHeartbeatTime": stamp(90)}],
            "addresses": [{"type": "InternalIP", "address": f"10.0.{r}.{n}"}, {"type": "Hostname", "address": name}],
            "nodeInfo": {"kubeletVersion": "v1.30.4", "containerRuntimeVersion": "containerd://1.7.20"},
            "images": [
                {"names": [f"registry.example.com/team/image-{k}@sha256:{'0' * 64}"], "sizeBytes": 10**8 + k}
                for k in range(20)
            ],
        },
    }


def pod_body(i: int, node_names: list[str]) -> dict[str, Any]:
    """Pod `i` of 2,000 ReplicaSets of 25: two in five bound (Running), three in five pending (ours)."""
    app = i // REPLICAS
    namespace = f"team-{app % NAMESPACES}"
    deployment = f"svc-{app}"
    template_hash = f"{((app + 1) * 2654435761) % 16**10:010x}"
    name = f"{deployment}-{template_hash}-{(i * 2654435761) % 16**5:05x}"  # unique: an odd multiplier
    bound = i % 5 < 2
    anti = app % 33 == 0  # about 3 % of pods: one replica per node
    node = node_names[(i * 7919) % len(node_names)] if bound else None
    labels = {
        "app": deployment,
        "app.kubernetes.io/name": deployment,
        "app.kubernetes.io/instance": f"{deployment}-prod",
        "app.kubernetes.io/component": "server",
        "app.kubernetes.io/part-of": f"product-{app % 50}",
        "pod-template-hash": template_hash,
        "team": f"team-{app % NAMESPACES}",
    }
    env = [
        {"name": "POD_NAME", "valueFrom": {"fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.name"}}},
        {"name": "POD_NAMESPACE", "valueFrom": {"fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"}}},
        {"name": "NODE_NAME", "valueFrom": {"fieldRef": {"apiVersion": "v1", "fieldPath": "spec.nodeName"}}},
        {"name": "LOG_LEVEL", "value": "info"},
        {"name": "OTEL_EXPORTER_OTLP_ENDPOINT", "value": "http://otel-collector.observability:4317"},
        {"name": "DATABASE_URL", "value": f"postgres://db-{app % 97}.data.svc:5432/app{app}"},
        {"name": "FEATURE_FLAGS", "value": "alpha=false,beta=true,gamma=false"},
        {"name": "GOMAXPROCS", "valueFrom": {"resourceFieldRef": {"resource": "limits.cpu", "divisor": "1"}}},
    ]
    token_volume = f"kube-api-access-{uuid.uuid4().hex[:5]}"
    spec: dict[str, Any] = {
        "volumes": [
            {"name": "config", "configMap": {"name": f"{deployment}-config", "defaultMode": 420}},
            {
                "name": token_volume,
                "projected": {
                    "defaultMode": 420,
                    "sources": [
                        {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
                        {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
                        {
                            "downwardAPI": {
                                "items": [
                                    {
                                        "path": "namespace",
                                        "fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"},
                                    }
                                ]
                            }
                        },
                    ],
                },
            },
        ],
        "containers": [
            {
                "name": "server",
                "image": f"registry.example.com/{namespace}/{deployment}:v1.{app % 40}.3",
                "args": ["--port=8080", "--metrics-port=9090", f"--config=/etc/{deployment}/config.yaml"],
                "ports": [
                    {"name": "http", "containerPort": 8080, "protocol": "TCP"},
                    {"name": "metrics", "containerPort": 9090, "protocol": "TCP"},
                ],
                "env": env,
                "resources": {
                    "requests": {"cpu": "500m", "memory": "1Gi"},
                    "limits": {"cpu": "2", "memory": "2Gi"},
                },
                "volumeMounts": [
                    {"name": "config", "mountPath": f"/etc/{deployment}", "readOnly": True},
                    {
                        "name": token_volume,
                        "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount",
                        "readOnly": True,
                    },
                ],
                "livenessProbe": {
                    "httpGet": {"path": "/healthz", "port": "http", "scheme": "HTTP"},
                    "periodSeconds": 10,
                    "timeoutSeconds": 1,
                    "failureThreshold": 3,
                },
                "readinessProbe": {
                    "httpGet": {"path": "/ready", "port": "http", "scheme": "HTTP"},
                    "periodSeconds": 5,
                    "timeoutSeconds": 1,
                    "failureThreshold": 3,
                },
                "terminationMessagePath": "/dev/termination-log",
                "terminationMessagePolicy": "File",
                "imagePullPolicy": "IfNotPresent",
                "securityContext": {"runAsNonRoot": True, "allowPrivilegeEscalation": False},
            },
            {
                "name": "proxy",
                "image": "registry.example.com/mesh/proxy:1.22.1",
                "args": ["proxy", "sidecar", "--concurrency=2"],
                "env": [
                    {"name": "ISTIO_META_POD_PORTS", "value": '[{"name":"http","containerPort":8080}]'},
                    {"name": "PROXY_CONFIG", "value": '{"holdApplicationUntilProxyStarts":true}'},
                    {
                        "name": "INSTANCE_IP",
                        "valueFrom": {"fieldRef": {"apiVersion": "v1", "fieldPath": "status.podIP"}},
                    },
                ],
                "resources": {
                    "requests": {"cpu": "100m", "memory": "128Mi"},
                    "limits": {"cpu": "500m", "memory": "256Mi"},
                },
                "volumeMounts": [
                    {
                        "name": token_volume,
                        "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount",
                        "readOnly": True,
                    }
                ],
                "terminationMessagePath": "/dev/termination-log",
                "terminationMessagePolicy": "File",
                "imagePullPolicy": "IfNotPresent",
            },
        ],
        "restartPolicy": "Always",
        "terminationGracePeriodSeconds": 30,
        "dnsPolicy": "ClusterFirst",
        "serviceAccountName": deployment,
        "serviceAccount": deployment,
        "securityContext": {"fsGroup": 2000},
        "schedulerName": SCHEDULER if (not bound or i % 2 == 0) else "default-scheduler",
        "nodeSelector": {"kubernetes.io/os": "linux", "node.kubernetes.io/instance-type": INSTANCE_TYPE},
        "tolerations": [
            {
                "key": "node.kubernetes.io/not-ready",
                "operator": "Exists",
                "effect": "NoExecute",
                "tolerationSeconds": 300,
            },
            {
                "key": "node.kubernetes.io/unreachable",
                "operator": "Exists",
                "effect": "NoExecute",
                "tolerationSeconds": 300,
            },
            {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"},
        ],
        "priority": 0,
        "enableServiceLinks": True,
        "preemptionPolicy": "PreemptLowerPriority",
    }
    if anti:
        spec["affinity"] = {
            "podAntiAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": [
                    {"labelSelector": {"matchLabels": {"app": deployment}}, "topologyKey": HOST}
                ]
            }
        }
    if node is not None:
        spec["nodeName"] = node
        started = stamp(600 + i % 3600)
        status: dict[str, Any] = {
            "phase": "Running",
            "conditions": [
                {"type": t, "status": "True", "lastProbeTime": None, "lastTransitionTime": started}
                for t in ("Initialized", "Ready", "ContainersReady", "PodScheduled")
            ],
            "hostIP": f"10.0.{i % 250}.{i % 200}",
            "podIP": f"10.{i % 250}.{(i // 250) % 250}.{i % 200}",
            "podIPs": [{"ip": f"10.{i % 250}.{(i // 250) % 250}.{i % 200}"}],
            "startTime": started,
            "containerStatuses": [
                {
                    "name": c["name"],
                    "state": {"running": {"startedAt": started}},
                    "lastState": {},
                    "ready": True,
                    "restartCount": 0,
                    "image": c["image"],
                    "imageID": f"{c['image']}@sha256:{uuid.uuid4().hex}{uuid.uuid4().hex}",
                    "containerID": f"containerd://{uuid.uuid4().hex}{uuid.uuid4().hex}",
                    "started": True,
                }
                for c in spec["containers"]
            ],
            "qosClass": "Burstable",
        }
    else:
        status = {"phase": "Pending", "qosClass": "Burstable"}
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "generateName": f"{deployment}-{template_hash}-",
            "namespace": namespace,
            "uid": str(uuid.uuid4()),
            "resourceVersion": str(10_000 + i),
            "creationTimestamp": stamp(i * 0.05),
            "labels": labels,
            "annotations": {
                "kubectl.kubernetes.io/restartedAt": stamp(0),
                "prometheus.io/scrape": "true",
                "prometheus.io/port": "9090",
            },
            "ownerReferences": [
                {
                    "apiVersion": "apps/v1",
                    "kind": "ReplicaSet",
                    "name": f"{deployment}-{template_hash}",
                    "uid": str(uuid.UUID(int=app + 1)),
                    "controller": True,
                    "blockOwnerDeletion": True,
                }
            ],
            "managedFields": [
                {"manager": "kube-controller-manager", "operation": "Update", "apiVersion": "v1", "fieldsV1": {}},
                {"manager": "kubelet", "operation": "Update", "apiVersion": "v1", "subresource": "status"},
            ],
        },
        "spec": spec,
        "status": status,
    }


def wire(body: dict[str, Any]) -> dict[str, Any]:
    """The body as a watch hands it over: parsed from JSON text, nothing shared with any other object."""
    parsed: dict[str, Any] = json.loads(json.dumps(body))
    return parsed


# 1. Memory (in the child) ---------------------------------------------------------------------------------------


def maxrss() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux


def vm_rss() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def measure_memory(shape: tuple[int, int, int, int], pods: int) -> dict[str, Any]:
    import gc

    gc.set_threshold(50_000, 20, 1000)  # as the operator sets it (kube/operator.py)
    baseline = maxrss()
    began = time.perf_counter()
    state = ClusterState(DEFAULT_LEVELS)
    for followed in FOLLOWED:  # the owner kinds the operator follows, listed and served
        state.follow(followed.kind, True)
    zones, blocks, racks, per_rack = shape
    for z in range(zones):
        for b in range(blocks):
            for r in range(racks):
                for n in range(per_rack):
                    state.upsert_node(strip_node(Node.model_validate(wire(node_body(z, b, r, n)))))
    after_nodes = maxrss()
    nodes_s = time.perf_counter() - began
    names = sorted(state.nodes.tree().index)
    began = time.perf_counter()
    anti = 0
    for i in range(pods):
        info = pod_info(lean_pod(wire(pod_body(i, names))))
        anti += info.pod.spec.affinity is not None
        state.upsert_pod(info)
    pods_s = time.perf_counter() - began
    after_pods = maxrss()
    rss_after_pods = vm_rss()

    began = time.perf_counter()
    capacity = state.capacity()
    snapshot_s = time.perf_counter() - began
    began = time.perf_counter()
    units = pending_units(state, SCHEDULER)
    units_s = time.perf_counter() - began
    unit = next(u for u in units if u.gang is not None)
    began = time.perf_counter()
    decision = Scheduler(state).schedule_one(unit)
    decision_s = time.perf_counter() - began
    peak = maxrss()
    bound = sum(p.node is not None and not p.assumed for p in state.pods.values())
    return {
        "nodes": len(capacity.tree),
        "pods": len(state.pods),
        "bound": bound,
        "pending_units": len(units),
        "anti_affinity_pods": anti,
        "schedulers": dict(Counter(p.scheduler_name for p in state.pods.values())),
        "baseline_maxrss": baseline,
        "after_nodes_maxrss": after_nodes,
        "after_pods_maxrss": after_pods,
        "after_pods_vmrss": rss_after_pods,
        "peak_maxrss": peak,
        "end_vmrss": vm_rss(),
        "delta": peak - baseline,
        "per_pod_bytes": (after_pods - after_nodes) / pods,
        "per_pod_bytes_all": (peak - baseline) / pods,
        "nodes_s": nodes_s,
        "pods_s": pods_s,
        "snapshot_s": snapshot_s,
        "pending_units_s": units_s,
        "decision_s": decision_s,
        "decision": decision.reason.value,
        "decision_unit": unit.key,
        "decision_pods": len(decision.plan.assignments) if decision.plan is not None else 0,
    }


def memory_in_child() -> dict[str, Any]:
    child = subprocess.run(
        [sys.executable, __file__, "--memory-child"], check=True, capture_output=True, text=True, cwd=os.getcwd()
    )
    figures: dict[str, Any] = json.loads(child.stdout.strip().splitlines()[-1])
    return figures


# 2. Placement at 65,536 nodes -------------------------------------------------------------------------------------


def gang_at(shape: tuple[int, int, int, int], runs: int) -> dict[str, Any]:
    began = time.perf_counter()
    tree = TopologyTree(DEFAULT_LEVELS, cluster(*shape))
    build_s = time.perf_counter() - began
    times, plans = bench_big_gang(tree, runs)
    statuses = Counter(p.status.value for p in plans)
    return {
        "nodes": len(tree),
        "runs": runs,
        "median_s": statistics.median(times),
        "min_s": min(times),
        "max_s": max(times),
        "first_s": times[0],  # includes building the filter cache for the tree
        "times_s": times,
        "statuses": dict(statuses),
        "placed": sum(p.placed for p in plans),
        "tree_build_s": build_s,
    }


def fmt_bytes(n: float) -> str:
    return f"{n / MI:,.0f} MiB"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="3 placement runs instead of 9 (memory: same size)")
    parser.add_argument("--json", help="merge the figures into this JSON file (key: scale)")
    parser.add_argument("--memory-child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.memory_child:
        print(json.dumps(measure_memory(NODES, PODS)))
        return
    load_before = os.getloadavg()
    began = time.monotonic()
    memory = memory_in_child()
    runs = 3 if args.quick else 9
    small = gang_at((4, 8, 16, 32), runs)
    large = gang_at((8, 16, 16, 32), runs)
    load_after = os.getloadavg()

    load = " / ".join(f"{x:.2f}" for x in load_before)
    table = Table(
        title=f"Scale benchmarks (2 cores, one run; load average {load} at the start)",
        title_justify="left",
    )
    for column in ("Benchmark", "Figure", "Target", "Ratio"):
        table.add_column(column)
    m = memory
    table.add_row(
        f"cache memory, {m['nodes']:,} nodes / {m['pods']:,} pods, snapshot + one decision",
        f"peak RSS {fmt_bytes(m['peak_maxrss'])}: {fmt_bytes(m['baseline_maxrss'])} after imports "
        f"+ {fmt_bytes(m['delta'])}; {m['per_pod_bytes']:,.0f} B per pod",
        f"<= {fmt_bytes(MEMORY_TARGET)} peak RSS",
        f"{m['peak_maxrss'] / MEMORY_TARGET:.2f}x the target",
    )
    table.add_row(
        f"512-pod gang, {large['nodes']:,} nodes, 4 levels, 35 % busy",
        f"median {large['median_s'] * 1000:.1f} ms ({small['nodes']:,} nodes: {small['median_s'] * 1000:.1f} ms)",
        f"<= {GANG_TARGET_S * 1000:.0f} ms median",
        f"{large['median_s'] / GANG_TARGET_S:.2f}x the target; {large['median_s'] / small['median_s']:.2f}x the "
        f"{small['nodes']:,}-node median for {large['nodes'] / small['nodes']:.0f}x the nodes",
    )
    console = Console(width=160)
    console.print(table)
    console.print(
        f"memory: {m['bound']:,} pods bound, {m['pending_units']:,} pending units, {m['anti_affinity_pods']:,} "
        f"pods with anti-affinity; schedulers {m['schedulers']}; per pod all in (nodes, snapshot, decision too) "
        f"{m['per_pod_bytes_all']:,.0f} B; VmRSS at the end {fmt_bytes(m['end_vmrss'])}\n"
        f"        loading {m['nodes_s']:.1f} s nodes + {m['pods_s']:.1f} s pods (JSON round trip included), "
        f"snapshot {m['snapshot_s'] * 1000:.1f} ms, pending_units {m['pending_units_s']:.2f} s, "
        f"decision {m['decision_s'] * 1000:.0f} ms ({m['decision']}, {m['decision_unit']})"
    )
    for g in (small, large):
        console.print(
            f"gang, {g['nodes']:,} nodes, {g['runs']} runs (ms): "
            + ", ".join(f"{t * 1000:.1f}" for t in g["times_s"])
            + f" (the first builds the filter cache); {g['statuses']}, placed {g['placed']}/{g['runs']}"
        )
    wall = time.monotonic() - began
    print(f"load average {' / '.join(f'{x:.2f}' for x in load_after)} at the end; bench wall time {wall:.0f} s")
    write_json(
        args.json,
        "scale",
        {
            "memory": memory,
            "memory_target_bytes": MEMORY_TARGET,
            "gang_16k": small,
            "gang_65k": large,
            "gang_target_s": GANG_TARGET_S,
            "gang_ratio_65k_16k": large["median_s"] / small["median_s"],
            "load_before": load_before,
            "load_after": load_after,
            "wall_s": wall,
        },
    )


if __name__ == "__main__":
    main()
