"""The scheduler's cache: stripped nodes, pods and groups, with per-node usage kept incrementally.

Every pod bound to a node counts toward that node's usage, whatever its scheduler; only pods whose
schedulerName is ours are scheduled. Assumed pods (reserved by a cycle, not yet confirmed bound by the API)
count too, so the next cycle does not hand out the same capacity twice.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime

from scheduler.api.controllers import controller_of
from scheduler.api.core import Pod, PodDisruptionBudget
from scheduler.api.fidelity import placement_refusal
from scheduler.api.integrations import Membership, OwnerRecord, owner_record, resolve
from scheduler.api.membership import pod_group_of
from scheduler.api.podgroup import PodGroup
from scheduler.api.workload import GROUP as OURS
from scheduler.engine.storage import StorageIndex
from scheduler.solver.neighbours import ExistingPod, Neighbours
from scheduler.solver.relations import host_port, own_terms
from scheduler.topology.cache import TopologyCache
from scheduler.topology.capacity import Capacity
from scheduler.topology.nodes import NodeInfo

TERMINAL_PHASES = frozenset({"Succeeded", "Failed"})


@dataclass(frozen=True, slots=True)
class PodInfo:
    """A stripped pod: what scheduling and accounting need."""

    key: str  # namespace/name: the cache's key; `uid` tells a pod from one recreated under its name
    namespace: str
    name: str
    scheduler_name: str
    requests: Mapping[str, int]
    pod: Pod  # the validated object, for signatures (selectors, affinity, tolerations)
    node: str | None = None
    group: str | None = None  # PodGroup name in the same namespace
    phase: str = "Pending"
    created: datetime | None = None
    assumed: bool = False
    held: str = ""  # why the pod may not be scheduled yet (its owner unseen, its controller misconfigured)
    refused: str = ""  # a placement field Phalanx does not model (api/fidelity.py): never scheduled
    gates: tuple[str, ...] = ()  # spec.schedulingGates: not scheduled until the last is removed
    deleting: bool = False  # a deletionTimestamp: never scheduled, and not a quorum member
    uid: str = ""

    @property
    def group_key(self) -> str | None:
        return f"{self.namespace}/{self.group}" if self.group else None

    @property
    def holds_capacity(self) -> bool:
        return self.node is not None and self.phase not in TERMINAL_PHASES


def pod_info(pod: Pod) -> PodInfo:
    namespace = pod.metadata.namespace or "default"
    return PodInfo(
        key=f"{namespace}/{pod.metadata.name}",
        namespace=namespace,
        name=pod.metadata.name,
        scheduler_name=pod.spec.scheduler_name,
        requests=pod.requests(),
        pod=pod,
        node=pod.spec.node_name,
        group=pod_group_of(pod),
        phase=pod.status.phase,
        created=pod.metadata.creation_timestamp,
        refused=placement_refusal(pod) or "",
        gates=tuple(g.name for g in pod.spec.scheduling_gates),
        deleting=pod.being_deleted,
        uid=pod.metadata.uid or "",
    )


def existing_pod(info: PodInfo) -> ExistingPod:
    """What inter-pod rules of later pods see of a placed pod."""
    assert info.node is not None
    _, anti, _, _ = own_terms(info.pod)
    return ExistingPod(
        key=info.key,
        node=info.node,
        namespace=info.namespace,
        labels=info.pod.metadata.labels,
        anti_affinity=tuple(anti),
        ports=tuple(host_port(p) for p in info.pod.spec.host_ports()),
        terminating=info.deleting,
    )


@dataclass
class ClusterState:
    levels: tuple[str, ...]
    nodes: TopologyCache = field(init=False)
    pods: dict[str, PodInfo] = field(default_factory=dict)
    groups: dict[str, PodGroup] = field(default_factory=dict)  # namespace/name -> group
    priority_classes: dict[str, int] = field(default_factory=dict)
    budgets: dict[str, PodDisruptionBudget] = field(default_factory=dict)  # namespace/name -> PDB
    # Claims, volumes and classes (engine/storage.py), and which pods mount which claims (kept by upsert_pod).
    storage: StorageIndex = field(default_factory=StorageIndex)
    namespaces: dict[str, dict[str, str]] = field(default_factory=dict)  # name -> labels (namespaceSelector)
    # Workload-controller integration (api/integrations.py): the controller objects seen, and per followed kind
    # whether it is served (None: first list in flight). Empty: pods join groups by label only.
    owners: dict[str, OwnerRecord] = field(default_factory=dict)
    followed: dict[str, bool | None] = field(default_factory=dict)
    _usage: dict[str, dict[str, int]] = field(default_factory=lambda: defaultdict(lambda: defaultdict(int)))
    _members: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    _dependents: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))  # owner id -> pod keys
    _chains: dict[str, tuple[str, ...]] = field(default_factory=dict)  # pod key -> owner ids it resolved through
    _arrays: Capacity | None = None  # allocatable and used, kept in step with _usage for fast snapshots
    # Placed pods (bound or assumed) as inter-pod affinity, spread and host ports see them.
    neighbours: Neighbours = field(init=False)
    # Groups whose members or object changed since the reporter last looked (it drains the set).
    touched: set[str] = field(default_factory=set)
    _group_sources: dict[str, dict[str, PodGroup]] = field(default_factory=dict)  # key -> API group -> group
    clashes: dict[str, str] = field(default_factory=dict)  # group key -> why several APIs' groups of that name

    def __post_init__(self) -> None:
        self.nodes = TopologyCache(self.levels)
        self.neighbours = Neighbours(namespace_labels=self.namespaces)

    # Nodes ------------------------------------------------------------------------------------------------
    def upsert_node(self, node: NodeInfo) -> bool:
        return self.nodes.upsert(node)

    def remove_node(self, name: str) -> bool:
        return self.nodes.remove(name)

    # Pods -------------------------------------------------------------------------------------------------
    def upsert_pod(self, info: PodInfo) -> None:
        old = self._detach(info.key)
        if self.followed and pod_group_of(info.pod) is None and controller_of(info.pod.metadata) is not None:
            membership = self._membership(info)
            info = replace(info, group=membership.group, held=membership.held)
            if membership.chain:
                self._chains[info.key] = membership.chain
                for owner in membership.chain:
                    self._dependents[owner].add(info.key)
        self.pods[info.key] = info
        if info.pod.spec.volumes:
            self.storage.use(info.key, info.pod, info.node if info.holds_capacity else None)
        if info.holds_capacity and info.node is not None:
            self._charge(info.node, info.requests, +1)
            self.neighbours.add(existing_pod(info))
        if info.group_key:
            self._members[info.group_key].add(info.key)
            self.touched.add(info.group_key)
        if old is None:  # a new pod may be the owner others wait for (an LWS leader owns its workers' set)
            self._reresolve(f"Pod/{info.key}")

    def remove_pod(self, key: str) -> PodInfo | None:
        old = self._detach(key)
        if old is not None:
            self._reresolve(f"Pod/{key}")
        return old

    def _detach(self, key: str) -> PodInfo | None:
        old = self.pods.pop(key, None)
        if old is None:
            return None
        if old.pod.spec.volumes:
            self.storage.release(key)
        if old.holds_capacity and old.node is not None:
            self._charge(old.node, old.requests, -1)
            self.neighbours.remove(key)
        if old.group_key:
            self._members[old.group_key].discard(key)
            self.touched.add(old.group_key)
        for owner in self._chains.pop(key, ()):
            waiting = self._dependents[owner]
            waiting.discard(key)
            if not waiting:
                del self._dependents[owner]
        return old

    def assume(self, key: str, node: str) -> None:
        """Reserve: the pod is treated as bound to `node` until the API confirms or the cycle forgets it."""
        self.upsert_pod(replace(self.pods[key], node=node, assumed=True))

    def forget(self, key: str) -> None:
        """Unreserve (idempotent): an assumed pod goes back to pending; a confirmed one is left alone."""
        info = self.pods.get(key)
        if info is not None and info.assumed:
            self.upsert_pod(replace(info, node=None, assumed=False))

    def _charge(self, node: str, requests: Mapping[str, int], sign: int) -> None:
        usage = self._usage[node]
        for resource, amount in requests.items():
            usage[resource] += sign * amount
        arrays = self._arrays
        if arrays is not None:
            i = arrays.tree.index.get(node)
            if i is not None and all(r in arrays.column for r in requests):
                for resource, amount in requests.items():
                    arrays.used[i, arrays.column[resource]] += sign * amount
            elif i is not None:
                self._arrays = None  # a resource no column has: rebuild on the next snapshot

    def overcommitted(self, node: str) -> list[str]:
        """Resources of which the pods counted on `node` (assumed ones included) ask more than it has: what a
        second scheduler binding to the same node in the meantime leaves behind."""
        info = self.nodes.get(node)
        if info is None:
            return []
        usage = self._usage.get(node, {})
        return sorted(r for r, used in usage.items() if used > info.allocatable.get(r, 0))

    # Controllers (integration) ------------------------------------------------------------------------------
    def upsert_owner(self, record: OwnerRecord) -> bool:
        """Record a controller object; True when that changed the membership of any pod (or may have)."""
        if self.owners.get(record.id) == record:
            return False
        self.owners[record.id] = record
        self._reresolve(record.id)
        return True

    def remove_owner(self, owner: str) -> bool:
        if self.owners.pop(owner, None) is None:
            return False
        self._reresolve(owner)
        return True

    def follow(self, kind: str, served: bool | None) -> None:
        """Start (None), confirm (True) or give up (False: API not installed) following owners of `kind`."""
        if self.followed.get(kind, "unset") == served:
            return
        self.followed[kind] = served
        self.followed.setdefault("Pod", True)  # pods own things too (an LWS leader owns its workers' set)
        for owner in [o for o in self._dependents if o.startswith(f"{kind}/")]:
            self._reresolve(owner)
        if served is not False:  # pods resolved before the kind was followed may now belong to a gang
            for info in [i for i in self.pods.values() if i.key not in self._chains]:
                self.upsert_pod(info)

    def _membership(self, info: PodInfo) -> Membership:
        return resolve(info.namespace, info.pod.metadata, self._owner, self.followed)

    def _owner(self, owner: str) -> OwnerRecord | None:
        record = self.owners.get(owner)
        if record is None and owner.startswith("Pod/"):
            info = self.pods.get(owner[4:])
            return owner_record("Pod", info.pod.metadata) if info is not None else None
        return record

    def _reresolve(self, owner: str) -> None:
        for key in list(self._dependents.get(owner, ())):
            info = self.pods.get(key)
            if info is not None:
                self.upsert_pod(info)

    # Groups -----------------------------------------------------------------------------------------------
    def upsert_group(self, group: PodGroup) -> None:
        key = f"{group.metadata.namespace or 'default'}/{group.metadata.name}"
        origin = group.origin
        self._group_sources.setdefault(key, {})[origin.group if origin else OURS] = group
        self._settle_group(key)

    def remove_group(self, key: str, api_group: str = "") -> None:
        """Forget the group of `key` read from `api_group` (ours when empty)."""
        sources = self._group_sources.get(key, {})
        sources.pop(api_group or OURS, None)
        self._settle_group(key)

    def _settle_group(self, key: str) -> None:
        """One group per name: pods name a group by name alone, so when several APIs have a PodGroup of the
        same name in one namespace the group is refused, naming them, rather than guessed."""
        sources = self._group_sources.get(key) or {}
        self.touched.add(key)
        self.clashes.pop(key, None)
        if not sources:
            self._group_sources.pop(key, None)
            self.groups.pop(key, None)
            return
        apis = sorted(sources)
        self.groups[key] = sources[apis[0]]
        if len(apis) > 1:
            self.clashes[key] = (
                f"PodGroup {key} exists in {' and '.join(apis)}: its pods name it by name only, so Phalanx "
                "cannot tell which one they mean; rename or delete one"
            )

    def members(self, group_key: str) -> list[PodInfo]:
        return sorted((self.pods[k] for k in self._members.get(group_key, ())), key=lambda p: p.name)

    def free_capacity(self) -> dict[str, int]:
        """Allocatable minus what pods hold, summed over the nodes a pod may be placed on (not cordoned)."""
        free: dict[str, int] = defaultdict(int)
        for node in self.nodes.tree().nodes:
            if node.unschedulable:
                continue
            usage = self._usage.get(node.name, {})
            for resource, amount in node.allocatable.items():
                free[resource] += amount - usage.get(resource, 0)
        return dict(free)

    # Snapshots --------------------------------------------------------------------------------------------
    def capacity(self, extra_resources: Iterable[str] = ()) -> Capacity:
        """A per-cycle snapshot of free capacity over the current topology tree.

        The (nodes x resources) arrays are kept up to date as pods come and go and rebuilt only when the tree
        changes or a new resource appears, so a snapshot of 5,000 nodes is one array copy, not a loop.
        """
        tree = self.nodes.tree()
        arrays = self._arrays
        extra = set(extra_resources)
        if arrays is None or arrays.tree is not tree or not extra <= arrays.column.keys():
            known = set(arrays.resources) if arrays is not None and arrays.tree is tree else set()
            arrays = Capacity(tree, self._usage, extra | known)
            self._arrays = arrays
        return Capacity.from_arrays(tree, arrays.resources, arrays.allocatable, arrays.used.copy())
