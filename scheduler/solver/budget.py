"""How long a decision may think, and how CP-SAT is told.

In the operator a budget is wall-clock seconds, the time limit users configure. With
`SolverParams.deterministic` (the simulator) it is CP-SAT's deterministic time instead, on one worker, and the
Python around the models costs nothing: a trace replayed on a busy machine then gets the same answers as on an
idle one, so a simulator figure does not depend on the machine that printed it.
"""

from __future__ import annotations

import time

from ortools.sat.python import cp_model

from scheduler.solver.problem import SolverParams

# A deterministic run still stops a model that runs away in wall time (a machine many times slower than usual).
WALL_CAP_FACTOR = 50.0


class Budget:
    def __init__(self, deterministic: bool, seconds: float, parent: Budget | None = None) -> None:
        self.deterministic = deterministic
        self.seconds = seconds
        self.started = time.perf_counter()
        self.spent = 0.0  # deterministic time used (read by deterministic budgets only)
        self.parent = parent

    @classmethod
    def of(cls, params: SolverParams, seconds: float | None = None) -> Budget:
        return cls(params.deterministic, params.time_limit_s if seconds is None else seconds)

    def left(self) -> float:
        used = self.spent if self.deterministic else time.perf_counter() - self.started
        return self.seconds - used

    def within(self, seconds: float) -> Budget:
        """A share of this budget, whose use is charged to it too."""
        return Budget(self.deterministic, seconds, self)

    def limit(self, solver: cp_model.CpSolver, seconds: float, workers: int) -> None:
        """Set the solver's time limit (and worker count: one for a deterministic budget)."""
        seconds = max(0.001, seconds)
        if self.deterministic:
            solver.parameters.max_deterministic_time = seconds
            solver.parameters.max_time_in_seconds = seconds * WALL_CAP_FACTOR
            solver.parameters.num_workers = 1
        else:
            solver.parameters.max_time_in_seconds = seconds
            solver.parameters.num_workers = workers

    def charge(self, solver: cp_model.CpSolver) -> None:
        """Count a finished solve against this budget and every budget it is a share of."""
        budget: Budget | None = self
        while budget is not None:
            budget.spent += solver.deterministic_time
            budget = budget.parent
