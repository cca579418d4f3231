"""What every terminal table shares: the frame, the width it is laid out for, capped cells, natural order.

Every table fits a 100-column terminal: long cells end in an ellipsis instead of folding into tall columns.
"""

from __future__ import annotations

import re

from rich import box
from rich.table import Table

EMPTY = "\u2013"  # en dash: a figure that does not exist (no job started), unlike a zero
WIDTH = 100  # the terminal the column caps are set for; a wider one lends its spare room to the names


def spare(width: int, share: int) -> int:
    """This share of the columns a terminal has beyond WIDTH."""
    return max(0, width - WIDTH) // share


def natural_key(text: str) -> tuple[tuple[int, int | str], ...]:
    """Sort key that orders the numbers inside names by value: rack-2 before rack-10."""
    return tuple((0, int(part)) if part.isdigit() else (1, part) for part in re.split(r"(\d+)", text) if part)


def cap(text: str, width: int) -> str:
    """`text` cut to `width` characters, the cut shown by an ellipsis."""
    return text if len(text) <= width else text[: max(0, width - 1)] + "\u2026"


def plain_table(title: str) -> Table:
    # No edges and one space of padding: the frame of the default box costs a 9-column table 20 characters.
    return Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, show_edge=False, padding=(0, 1, 0, 0))
