from datetime import UTC, datetime, timedelta

from scheduler.api.conditions import (
    find_condition,
    is_condition_true,
    make_condition,
    remove_condition,
    set_condition,
    truncate_message,
)
from scheduler.api.meta import ConditionStatus

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def test_setting_a_new_condition_appends_it() -> None:
    cond = make_condition("PodGroupScheduled", False, "Unschedulable", "no rack fits", now=T0)
    result = set_condition([], cond)
    assert result == [cond]
    assert cond.status is ConditionStatus.FALSE


def test_the_transition_time_stays_when_the_status_does_not_change() -> None:
    first = make_condition("PodGroupScheduled", False, "Unschedulable", "a", now=T0)
    again = make_condition("PodGroupScheduled", False, "Unschedulable", "b", now=T0 + timedelta(minutes=5))
    (result,) = set_condition([first], again)
    assert result.last_transition_time == T0
    assert result.message == "b"


def test_the_transition_time_moves_when_the_status_flips() -> None:
    first = make_condition("PodGroupScheduled", False, "Unschedulable", now=T0)
    later = T0 + timedelta(minutes=5)
    (result,) = set_condition([first], make_condition("PodGroupScheduled", True, "Scheduled", now=later))
    assert result.last_transition_time == later
    assert is_condition_true([result], "PodGroupScheduled")


def test_other_conditions_are_kept_and_can_be_removed() -> None:
    a = make_condition("A", True, "Yes", now=T0)
    b = make_condition("B", False, "No", now=T0)
    both = set_condition([a], b)
    assert find_condition(both, "A") == a
    assert remove_condition(both, "A") == [b]
    assert find_condition([], "A") is None


def test_long_messages_are_truncated_to_the_api_limit() -> None:
    assert len(truncate_message("x" * 40000)) == 32768
    assert truncate_message("short") == "short"
    cond = make_condition("A", True, "Yes", "y" * 40000, now=T0)
    assert cond.message.endswith("…")
