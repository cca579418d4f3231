"""Resource quantities ("500m", "16Gi", "1e3") parsed exactly as Kubernetes' resource.Quantity does.

Capacities are integers in the unit the scheduler compares in: milli-units for cpu, whole units for everything
else (bytes, GPUs, pods). Rounding goes up, as the API server's canonical form does, so a request never looks
smaller than it is.
"""

from __future__ import annotations

import re
from decimal import ROUND_CEILING, Decimal, InvalidOperation

_BINARY = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}
_DECIMAL = {
    "n": Decimal("1e-9"),
    "u": Decimal("1e-6"),
    "m": Decimal("1e-3"),
    "": Decimal(1),
    "k": Decimal("1e3"),
    "M": Decimal("1e6"),
    "G": Decimal("1e9"),
    "T": Decimal("1e12"),
    "P": Decimal("1e15"),
    "E": Decimal("1e18"),
}
_QUANTITY = re.compile(r"^([+-]?(?:\d+\.?\d*|\.\d+))(?:(Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE])|([eE][+-]?\d+))?$")
# The API server refuses quantities beyond this; so do we, rather than carry absurd numbers into the solver.
_MAX_MAGNITUDE = Decimal(2**63 - 1)

MILLI_RESOURCES = frozenset({"cpu"})
Quantity = str | int | float  # as the wire has it: "500m", 2, 0.5


class QuantityError(ValueError):
    """A quantity string that Kubernetes would not accept."""


def parse_quantity(value: str | int | float) -> Decimal:
    """Parse a Kubernetes quantity into an exact Decimal of base units."""
    if isinstance(value, bool):
        raise QuantityError(f"quantity must be a number or a string, not {value!r}")
    if isinstance(value, int | float):
        text = repr(value) if isinstance(value, float) else str(value)
    else:
        text = value.strip()
    match = _QUANTITY.match(text)
    if not match:
        raise QuantityError(
            f"quantity {value!r} must match the regular expression "
            r"'^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$' (e.g. '500m', '2', '16Gi')"
        )
    number, suffix, exponent = match.groups()
    try:
        base = Decimal(number)
        if exponent:
            result = base.scaleb(int(exponent[1:]))
        elif suffix in _BINARY:
            result = base * _BINARY[suffix]
        else:
            result = base * _DECIMAL[suffix or ""]
    except InvalidOperation as exc:
        raise QuantityError(f"quantity {value!r} is not a number") from exc
    if abs(result) > _MAX_MAGNITUDE:
        raise QuantityError(f"quantity {value!r} is too large")
    return result


def to_scheduler_units(resource: str, value: str | int | float) -> int:
    """Convert a quantity to the integer unit the scheduler compares in (milli for cpu), rounding up."""
    amount = parse_quantity(value)
    if amount < 0:
        raise QuantityError(f"quantity {value!r} for {resource} must not be negative")
    if resource in MILLI_RESOURCES:
        amount *= 1000
    return int(amount.to_integral_value(rounding=ROUND_CEILING))


def format_scheduler_units(resource: str, amount: int) -> str:
    """Render scheduler units back as a short human quantity (for tables and explanations)."""
    if resource in MILLI_RESOURCES:
        return f"{amount // 1000}" if amount % 1000 == 0 else f"{amount}m"
    if resource in {"memory", "ephemeral-storage"} or resource.startswith("hugepages-"):
        for suffix, factor in reversed(_BINARY.items()):
            if amount >= factor and amount % factor == 0:
                return f"{amount // factor}{suffix}"
    return str(amount)
