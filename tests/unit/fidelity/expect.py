"""Comparing a filter_nodes() result with an upstream table's expectation, node by node.

An expectation maps every node to `PASS` (None: the pod passes every filter there), to upstream's reason string
(our reason must contain it), or to a tuple of reason strings (ours must contain each: upstream's Status carried
several reasons, e.g. "Insufficient cpu" and "Insufficient memory").
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from tests.unit.fidelity.objects import Obj

Want = str | tuple[str, ...] | None

PASS: Want = None


def assert_verdicts(got: Mapping[str, str | None], want: Mapping[str, Want]) -> None:
    assert set(got) == set(want), f"filter_nodes() judged nodes {sorted(got)}, the table has {sorted(want)}"
    wrong = {node: (got[node], expected) for node, expected in want.items() if not _matches(got[node], expected)}
    assert not wrong, "nodes judged differently from kube-scheduler (ours, upstream's):\n" + "\n".join(
        f"  {node}: {ours!r}, {theirs!r}" for node, (ours, theirs) in sorted(wrong.items())
    )


def _matches(reason: str | None, expected: Want) -> bool:
    if expected is None:
        return reason is None
    if reason is None:
        return False
    wanted = (expected,) if isinstance(expected, str) else expected
    return all(part in reason for part in wanted)


@dataclass(frozen=True)
class Case:
    """One row of an upstream table: `name` is upstream's test-case name (the pytest id)."""

    name: str
    pod: Obj
    nodes: Sequence[Obj]
    want: Mapping[str, Want]
    existing: Sequence[Obj] = ()
    namespaces: Sequence[Obj] = ()


def case_ids(cases: Sequence[Case]) -> list[str]:
    return [case.name for case in cases]
