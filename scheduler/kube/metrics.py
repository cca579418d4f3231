"""Prometheus metrics, named like kube-scheduler's with our prefix, in seconds; no per-object labels."""

from __future__ import annotations

from collections.abc import Mapping

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, disable_created_metrics
from prometheus_client.utils import INF

from scheduler.api.podgroup import ScheduledReason
from scheduler.engine.cycle import Decision
from scheduler.engine.observer import EVENTS, FAMILIES, STAGES
from scheduler.kube.watch import ResourceWatcher

# Exponential from 1 ms, as kube-scheduler's attempt durations.
SECONDS = (*(0.001 * 2**i for i in range(16)), INF)
# Waits, from 10 ms to 87 minutes, as kube-scheduler's pod_scheduling_sli_duration_seconds: gangs wait minutes.
WAITS = (*(0.01 * 2**i for i in range(20)), INF)
RESULT = {
    ScheduledReason.SCHEDULED: "scheduled",
    ScheduledReason.WAITING_FOR_PREEMPTION: "scheduled",
    ScheduledReason.UNSCHEDULABLE: "unschedulable",
    ScheduledReason.WAITING_FOR_PODS: "unschedulable",
    ScheduledReason.SCHEDULER_ERROR: "error",
}
OVER_LIMIT = 1.1  # a decision this many times its solver time limit counts as over it


# The `_created` series prometheus_client adds to every counter and histogram (one more per label set) say when
# the process started counting, which the scrape's own timestamps already tell.
disable_created_metrics()  # type: ignore[no-untyped-call]


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.attempts = Counter(
            "phalanx_schedule_attempts", "Scheduling attempts of units, by result.", ["result"], registry=r
        )
        self.attempt_duration = Histogram(
            "phalanx_scheduling_attempt_duration_seconds",
            "Time to decide one unit (filter, place, preempt, validate).",
            ["result"],
            buckets=SECONDS,
            registry=r,
        )
        self.solver_duration = Histogram(
            "phalanx_solver_duration_seconds",
            "Solver time per decision, by status.",
            ["status"],
            buckets=SECONDS,
            registry=r,
        )
        self.solver_gap = Histogram(
            "phalanx_solver_gap",
            "Relative distance of a placed plan to its proven bound (0 = optimal).",
            buckets=(0.0, 0.001, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, INF),
            registry=r,
        )
        self.preemption_attempts = Counter(
            "phalanx_preemption_attempts", "Decisions that preempted to make room.", registry=r
        )
        self.preemption_victims = Histogram(
            "phalanx_preemption_victims",
            "Pods evicted per preemption.",
            buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256, 512, INF),
            registry=r,
        )
        self.pending_pods = Gauge("phalanx_pending_pods", "Pods waiting to be placed, by queue.", ["queue"], registry=r)
        self.pending_gangs = Gauge("phalanx_pending_gangs", "Units (gangs, groups, lone pods) waiting.", registry=r)
        self.bind_errors = Counter("phalanx_bind_errors", "Bindings the API server refused.", registry=r)
        self.leader = Gauge("phalanx_leader", "1 while this replica holds the scheduler's lease.", registry=r)
        self.time_limit = Gauge(
            "phalanx_solver_time_limit_seconds", "The configured solver time limit per decision.", registry=r
        )
        self.max_decision = Gauge(
            "phalanx_solver_max_decision_seconds",
            "The longest decision so far (filter, place, preempt, validate), to compare with the time limit.",
            registry=r,
        )
        self.over_limit = Counter(
            "phalanx_solver_over_limit", "Decisions that took more than 1.1 times the solver time limit.", registry=r
        )
        # SLIs, by priority class (a handful per cluster): what a platform team pages on.
        self.gang_wait = Histogram(
            "phalanx_gang_wait_duration_seconds",
            "From a gang's quorum present (all minCount pods there) to all its pods bound.",
            ["priority_class"],
            buckets=WAITS,
            registry=r,
        )
        self.scheduling_sli = Histogram(
            "phalanx_scheduling_sli_duration_seconds",
            "From a unit's first scheduling attempt to all its pods bound.",
            ["priority_class"],
            buckets=WAITS,
            registry=r,
        )
        self.waiting = Gauge(
            "phalanx_unschedulable_units",
            "Units waiting, by why (resources, topology, affinity-spread, ports, volumes, quorum, preemption, "
            "invalid, other).",
            ["family"],
            registry=r,
        )
        self.longest_wait = Gauge(
            "phalanx_longest_wait_seconds",
            "The longest wait of a unit still waiting, since its quorum was present, by priority class (0: none).",
            ["priority_class"],
            registry=r,
        )
        self.evicting = Gauge(
            "phalanx_evictions_in_flight", "Preemption victims asked to go, not yet answered.", registry=r
        )
        self.api_requests = Histogram(
            "phalanx_api_request_duration_seconds",
            "API calls the scheduler makes, by verb and answer code (0: no answer: a connection error or timeout).",
            ["verb", "code"],
            buckets=SECONDS,
            registry=r,
        )
        self.watch_restarts = Counter(
            "phalanx_watch_restarts", "Watches that ended in an error and relisted, by kind.", ["kind"], registry=r
        )
        self.relists = Counter(
            "phalanx_watch_relists",
            "Full listings after the first, by kind: a watch that expired (410 Gone) or failed starts over.",
            ["kind"],
            registry=r,
        )
        self.incoming = Counter(
            "phalanx_queue_incoming_units",
            "Units let into a scheduling attempt, by what let them in (new, unit-changed, cluster-changed, retry, "
            "victims-gone).",
            ["event"],
            registry=r,
        )
        self.preemption_duration = Histogram(
            "phalanx_preemption_duration_seconds",
            "From a preemption decision to each stage: victims-gone (none holds a node), bound (the preemptor's "
            "pods all bound), given-up (victims too slow, an eviction refused, the preemptor recreated).",
            ["stage"],
            buckets=WAITS,
            registry=r,
        )
        # Every value of the bounded labels exported from the start: a series that appears at its first event
        # hides that event from increase() and rate(), and absent is not the same as zero in an alert.
        for event in EVENTS:
            self.incoming.labels(event)
        for stage in STAGES:
            self.preemption_duration.labels(stage)
        for result in sorted(set(RESULT.values())):
            self.attempts.labels(result)
        self._waited: set[str] = set()  # the priority classes a unit waited in
        self._limit_s = 0.0
        self._max_s = 0.0

    def set_time_limit(self, seconds: float) -> None:
        self._limit_s = seconds
        self.time_limit.set(seconds)

    def pending(self, active_units: int, active_pods: int, backoff_units: int, backoff_pods: int) -> None:
        self.pending_gangs.set(active_units + backoff_units)
        self.pending_pods.labels("active").set(active_pods)
        self.pending_pods.labels("backoff").set(backoff_pods)

    def bind_errors_seen(self, count: int) -> None:
        self.bind_errors.inc(count)

    def gang_bound(self, priority_class: str, since_quorum_s: float, since_first_attempt_s: float) -> None:
        self.gang_wait.labels(priority_class).observe(since_quorum_s)
        self.scheduling_sli.labels(priority_class).observe(since_first_attempt_s)

    def waiting_by_family(self, families: Mapping[str, int]) -> None:
        for name in FAMILIES:
            self.waiting.labels(name).set(families.get(name, 0))

    def longest_waits(self, by_priority_class: Mapping[str, float]) -> None:
        # A class nothing of waits any more reads 0, not its last wait: the alert on it must clear.
        for name in {*self._waited, *by_priority_class}:
            self.longest_wait.labels(name).set(by_priority_class.get(name, 0.0))
        self._waited |= by_priority_class.keys()

    def evictions_in_flight(self, count: int) -> None:
        self.evicting.set(count)

    def api_request(self, verb: str, code: int, seconds: float) -> None:
        self.api_requests.labels(verb, str(code)).observe(seconds)

    def queued(self, event: str) -> None:
        self.incoming.labels(event).inc()

    def preemption(self, stage: str, seconds: float) -> None:
        self.preemption_duration.labels(stage).observe(seconds)

    def follow(self, watcher: ResourceWatcher) -> None:
        """Count this watcher's restarts and relists, both exported at 0 for its kind from the start."""
        self.watch_restarts.labels(watcher.kind)
        self.relists.labels(watcher.kind)
        watcher.on_restart = lambda kind: self.watch_restarts.labels(kind).inc()
        watcher.on_relist = lambda kind: self.relists.labels(kind).inc()

    def observe(self, decision: Decision) -> None:
        result = RESULT[decision.reason]
        self.attempts.labels(result).inc()
        self.attempt_duration.labels(result).observe(decision.duration_s)
        if decision.duration_s > self._max_s:
            self._max_s = decision.duration_s
            self.max_decision.set(decision.duration_s)
        if self._limit_s and decision.duration_s > self._limit_s * OVER_LIMIT:
            self.over_limit.inc()
        plan = decision.plan
        if plan is None:
            return
        self.solver_duration.labels(plan.status.value).observe(plan.duration_s)
        if plan.placed and plan.gap is not None:
            self.solver_gap.observe(plan.gap)
        if decision.reason is ScheduledReason.WAITING_FOR_PREEMPTION:
            self.preemption_attempts.inc()
            self.preemption_victims.observe(len(plan.victim_pods))
