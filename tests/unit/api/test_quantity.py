from decimal import Decimal

import pytest

from scheduler.api.quantity import QuantityError, format_scheduler_units, parse_quantity, to_scheduler_units


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1", Decimal(1)),
        ("500m", Decimal("0.5")),
        ("1.5", Decimal("1.5")),
        ("16Gi", Decimal(16 * 2**30)),
        ("1Ki", Decimal(1024)),
        ("2k", Decimal(2000)),
        ("1e3", Decimal(1000)),
        ("1E-3", Decimal("0.001")),
        ("100n", Decimal("1e-7")),
        (".5", Decimal("0.5")),
        (8, Decimal(8)),
    ],
    ids=lambda v: str(v),
)
def test_quantities_parse_as_kubernetes_does(text: str | int, expected: Decimal) -> None:
    assert parse_quantity(text) == expected


@pytest.mark.parametrize("text", ["", "abc", "1.2.3", "5 Gi", "1Gb", "--1", "1e", True, "9" * 30])
def test_malformed_quantities_are_rejected_with_the_value_named(text: str) -> None:
    with pytest.raises(QuantityError, match="quantity"):
        parse_quantity(text)


def test_cpu_is_counted_in_millicores_and_rounded_up() -> None:
    assert to_scheduler_units("cpu", "250m") == 250
    assert to_scheduler_units("cpu", "2") == 2000
    assert to_scheduler_units("cpu", "0.0001") == 1


def test_memory_and_extended_resources_are_counted_in_whole_units() -> None:
    assert to_scheduler_units("memory", "1Gi") == 2**30
    assert to_scheduler_units("nvidia.com/gpu", 8) == 8
    assert to_scheduler_units("memory", "1.5") == 2


def test_negative_requests_are_rejected() -> None:
    with pytest.raises(QuantityError, match="negative"):
        to_scheduler_units("cpu", "-1")


def test_units_render_back_in_short_human_form() -> None:
    assert format_scheduler_units("cpu", 1500) == "1500m"
    assert format_scheduler_units("cpu", 2000) == "2"
    assert format_scheduler_units("memory", 3 * 2**30) == "3Gi"
    assert format_scheduler_units("memory", 1000) == "1000"
