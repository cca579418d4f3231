"""The engine's port in memory, for tests: a cluster that answers effects as the API server would (or as told),
a fake clock, and passes run until the engine's effects are carried out."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from scheduler.engine.cycle import EngineConfig
from scheduler.engine.driver import Engine
from scheduler.engine.effects import Bind, Done, Effect, Evict, Outcome, Release
from scheduler.engine.state import ClusterState


@dataclass
class Clock:
    now: float = 0.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Port:
    """Answers effects as a cluster would, or as told; records everything it was asked."""

    state: ClusterState
    refuse: dict[str, Outcome] = field(default_factory=dict)  # pod -> how its bindings fail
    asked: list[Effect] = field(default_factory=list)

    def carry(self, engine: Engine, effects: list[Effect]) -> None:
        for effect in effects:
            self.asked.append(effect)
            engine.done(self.answer(effect))

    def answer(self, effect: Effect) -> Done:
        if isinstance(effect, Bind):
            outcome = self.refuse.get(effect.pod)
            if outcome is not None:
                return Done(effect, outcome, "refused")
            info = self.state.pods[effect.pod]
            if info.uid != effect.uid:
                return Done(effect, Outcome.PERMANENT, "(409) uid precondition failed")
            self.state.upsert_pod(replace(info, node=effect.node, assumed=False))
        if isinstance(effect, Evict | Release):
            self.state.remove_pod(effect.pod)
        return Done(effect)

    def of(self, kind: type[Any]) -> list[Any]:
        return [e for e in self.asked if isinstance(e, kind)]


def engine_for(state: ClusterState) -> tuple[Engine, Clock, Port]:
    clock = Clock()
    return Engine(state, EngineConfig(), clock), clock, Port(state)


def run(engine: Engine, port: Port, passes: int = 3) -> None:
    for _ in range(passes):
        port.carry(engine, engine.step())
