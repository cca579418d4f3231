"""Decision budgets: wall seconds in the operator, CP-SAT's deterministic time in the simulator."""

from __future__ import annotations

import time

from ortools.sat.python import cp_model

from scheduler.solver.budget import Budget
from scheduler.solver.problem import SolverParams


def _solved() -> cp_model.CpSolver:
    model = cp_model.CpModel()
    xs = [model.new_int_var(0, 10, f"x{i}") for i in range(20)]
    model.add(sum(xs) == 57)
    model.maximize(sum(i * x for i, x in enumerate(xs)))
    solver = cp_model.CpSolver()
    solver.solve(model)
    return solver


def test_a_deterministic_budget_is_spent_only_by_solves_and_charges_the_budget_it_is_a_share_of() -> None:
    budget = Budget.of(SolverParams(deterministic=True, time_limit_s=1.0))
    time.sleep(0.01)  # wall time passing costs a deterministic budget nothing
    assert budget.left() == 1.0
    share = budget.within(0.5)
    solver = _solved()
    share.charge(solver)
    assert solver.deterministic_time > 0
    assert share.left() == 0.5 - solver.deterministic_time
    assert budget.left() == 1.0 - solver.deterministic_time


def test_a_deterministic_budget_limits_cp_sat_in_deterministic_time_on_one_worker() -> None:
    solver = cp_model.CpSolver()
    Budget.of(SolverParams(deterministic=True)).limit(solver, 0.3, workers=4)
    assert solver.parameters.max_deterministic_time == 0.3
    assert solver.parameters.num_workers == 1
    wall = cp_model.CpSolver()
    Budget.of(SolverParams()).limit(wall, 0.3, workers=4)
    assert wall.parameters.max_time_in_seconds == 0.3
    assert wall.parameters.num_workers == 4


def test_a_wall_clock_budget_runs_down_with_time() -> None:
    budget = Budget.of(SolverParams(time_limit_s=1.0))
    time.sleep(0.02)
    assert budget.left() < 0.99
