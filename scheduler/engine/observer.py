"""What the engine tells metrics: kube/metrics.py implements it over Prometheus; the simulator ignores it."""

from __future__ import annotations

from typing import Protocol

from scheduler.engine.cycle import Decision


class Observer(Protocol):
    """What the engine tells metrics (kube/metrics.py implements it; the simulator may ignore it)."""

    def observe(self, decision: Decision) -> None: ...

    def pending(self, active_units: int, active_pods: int, backoff_units: int, backoff_pods: int) -> None: ...

    def bind_errors_seen(self, count: int) -> None: ...


class Quiet:
    def observe(self, decision: Decision) -> None:
        pass

    def pending(self, active_units: int, active_pods: int, backoff_units: int, backoff_pods: int) -> None:
        pass

    def bind_errors_seen(self, count: int) -> None:
        pass
