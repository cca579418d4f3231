"""metav1.Condition helpers with apimachinery's semantics (meta.SetStatusCondition).

The transition time moves only when the status flips, so `kubectl describe` shows how long a group has really
been unschedulable, not when the scheduler last retried it.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from scheduler.api.meta import CONDITION_MESSAGE_MAX, Condition, ConditionStatus

_TRUNCATED = "…"


def truncate_message(message: str, limit: int = CONDITION_MESSAGE_MAX) -> str:
    """Fit a message into a condition; long explanations keep their start, which carries the summary."""
    return message if len(message) <= limit else message[: limit - len(_TRUNCATED)] + _TRUNCATED


def make_condition(
    type_: str,
    status: ConditionStatus | bool,
    reason: str,
    message: str = "",
    *,
    observed_generation: int | None = None,
    now: datetime | None = None,
) -> Condition:
    if isinstance(status, bool):
        status = ConditionStatus.TRUE if status else ConditionStatus.FALSE
    return Condition(
        type=type_,
        status=status,
        reason=reason,
        message=truncate_message(message),
        observed_generation=observed_generation,
        last_transition_time=(now or datetime.now(UTC)).replace(microsecond=0),
    )


def find_condition(conditions: Sequence[Condition], type_: str) -> Condition | None:
    return next((c for c in conditions if c.type == type_), None)


def is_condition_true(conditions: Sequence[Condition], type_: str) -> bool:
    found = find_condition(conditions, type_)
    return found is not None and found.status is ConditionStatus.TRUE


def set_condition(conditions: Sequence[Condition], new: Condition) -> list[Condition]:
    """Return the conditions with `new` in place of its type, keeping the old transition time if unchanged."""
    result: list[Condition] = []
    replaced = False
    for existing in conditions:
        if existing.type != new.type:
            result.append(existing)
            continue
        replaced = True
        if existing.status == new.status:
            new = new.model_copy(update={"last_transition_time": existing.last_transition_time})
        result.append(new)
    if not replaced:
        result.append(new)
    return result


def remove_condition(conditions: Sequence[Condition], type_: str) -> list[Condition]:
    return [c for c in conditions if c.type != type_]
