"""Node selector operators on one label value, as corev1's NodeSelectorRequirement defines them; shared by the
node affinity filter and the volume filters (a PersistentVolume's node affinity is the same vocabulary)."""

from __future__ import annotations

from collections.abc import Sequence


def operator_holds(operator: str, value: str | None, values: Sequence[str]) -> bool:
    """`value` is the node's label (None when it has none); an operator we do not know matches nothing."""
    match operator:
        case "In":
            return value is not None and value in values
        case "NotIn":
            return value is None or value not in values
        case "Exists":
            return value is not None
        case "DoesNotExist":
            return value is None
        case "Gt" | "Lt":
            if value is None or len(values) != 1:
                return False
            try:
                have, want = int(value), int(values[0])
            except ValueError:
                return False
            return have > want if operator == "Gt" else have < want
    return False
