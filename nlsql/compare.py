"""Comparing query results by execution: the measure of "right" for text-to-SQL.

Rows compare as multisets (as sequences when the gold query orders them); numbers
compare by value so 3 == 3.0 and Decimal('3') == 3.
"""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Sequence

from .db import jsonable


def _norm(value):
    value = jsonable(value)
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, float):
        return round(value, 6) if value != int(value) else int(value)
    return value


def _rows(rows: Sequence[Sequence]) -> list[tuple]:
    return [tuple(_norm(v) for v in row) for row in rows]


def _equal(gold: list[tuple], pred: list[tuple], ordered: bool) -> bool:
    if ordered:
        return gold == pred
    return Counter(gold) == Counter(pred)


def same_result(
    gold: Sequence[Sequence],
    pred: Sequence[Sequence],
    ordered: bool = False,
    allow_extra_columns: bool = False,
) -> bool:
    """Whether ``pred`` holds the same rows as ``gold``.

    With ``allow_extra_columns``, a prediction that shows the gold columns plus more
    (e.g. the count next to the name asked for) also matches.
    """
    g, p = _rows(gold), _rows(pred)
    if len(g) != len(p):
        return False
    if not g:
        return True
    width_g, width_p = len(g[0]), len(p[0])
    if width_g == width_p and _equal(g, p, ordered):
        return True
    if width_g > width_p or (width_g != width_p and not allow_extra_columns):
        return False
    # try every way of picking the gold columns out of the predicted ones (small widths)
    if width_p > 8:
        return False
    for columns in itertools.permutations(range(width_p), width_g):
        projected = [tuple(row[i] for i in columns) for row in p]
        if _equal(g, projected, ordered):
            return True
    return False
