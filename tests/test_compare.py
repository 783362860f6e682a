"""Result comparison by execution."""

from __future__ import annotations

from decimal import Decimal

from nlsql.compare import same_result


def test_multiset_and_order():
    assert same_result([(1,), (2,)], [(2,), (1,)])
    assert not same_result([(1,), (2,)], [(2,), (1,)], ordered=True)
    assert not same_result([(1,), (1,)], [(1,), (2,)])
    assert not same_result([(1,)], [(1,), (1,)])


def test_values_compare_by_value():
    assert same_result([(3, "a")], [(Decimal("3"), "a")])
    assert same_result([(2.0,)], [(2,)])
    assert not same_result([(2.5,)], [(2,)])


def test_columns_in_another_order_match():
    assert same_result([("DC1", 3), ("DC2", 5)], [(3, "DC1"), (5, "DC2")])


def test_extra_columns_only_when_allowed():
    gold, pred = [("Lan",)], [("Lan", 12)]
    assert not same_result(gold, pred)
    assert same_result(gold, pred, allow_extra_columns=True)
    assert same_result([], [])
