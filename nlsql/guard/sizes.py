"""The guard's size rule: no single value built from constants past a million characters.

``repeat('x', 1000000000)`` is one short line of SQL and a gigabyte of memory in the
database and then in the bot. The rule works out the sizes builder functions are asked
for (constants, arithmetic, casts, hex, nesting) on the syntax tree; a size that depends
on the data is capped in the SQL that runs (:func:`bound_data_sizes`).
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable, Iterable

from sqlglot import exp

from .context import GuardContext
from .functions import func_name

# The longest string or blob one function may be asked to build from constants: more
# is never an answer in chat, only a way to exhaust the memory of the database or the bot.
MAX_BUILT_SIZE = 1_000_000
_BLOB_MAKERS = frozenset({"zeroblob", "randomblob"})
_FORMATTERS = frozenset({"printf", "format"})
# ``%1$300000000s``: PostgreSQL's format() takes an argument position before the width
_FORMAT_WIDTH = re.compile(r"%(?:\d+\$)?[-+ #0!,]*(\d*)(?:\.(\d+))?")
_ARITHMETIC: dict[type[exp.Expression], Callable[[float, float], float]] = {
    exp.Add: operator.add, exp.Sub: operator.sub, exp.Mul: operator.mul,
    exp.Div: operator.truediv, exp.IntDiv: operator.floordiv, exp.Pow: operator.pow,
    exp.Mod: operator.mod,
}


def _constant(node: exp.Expression | None) -> float | None:
    """The value of an expression built only from numbers and arithmetic, else None."""
    if isinstance(node, exp.Literal):
        try:
            return float(node.this)
        except ValueError:
            return None
    if isinstance(node, exp.HexString):
        try:
            return float(int(node.this, 16))
        except ValueError:
            return None
    if isinstance(node, exp.Paren | exp.Cast | exp.TryCast):
        return _constant(node.this)
    if isinstance(node, exp.Neg):
        value = _constant(node.this)
        return None if value is None else -value
    op = _ARITHMETIC.get(type(node))
    if op is None:
        return None
    left, right = _constant(node.left), _constant(node.right)
    if left is None or right is None:
        return None
    try:
        return float(op(left, right))
    except (OverflowError, ZeroDivisionError, ValueError):
        return math.inf


def _count(node: exp.Expression | None) -> float | None:
    """A size argument's value; unbounded when made of constants askdb cannot work out
    (``abs(-1000000000)``), None when it depends on the data."""
    if node is None:
        return None
    value = _constant(node)
    if value is not None:
        return value
    if isinstance(node, exp.Literal):
        return None  # a string argument (printf's value), not a size
    if node.find(exp.Query) or any(
            (_constant(lit) or 0) > MAX_BUILT_SIZE for lit in node.find_all(exp.Literal)):
        return math.inf  # a subquery or a huge constant: not what the data holds
    return None if node.find(exp.Column) else math.inf


def _width(node: exp.Expression | None) -> float:
    """How long a builder's input may be: its longest string literal, or the largest
    value a builder inside it makes (``upper(repeat('x', 1000))`` is 1000)."""
    if node is None:
        return 1.0
    sizes = [s for f in node.find_all(exp.Func) for s in _built_sizes(f) if s is not None]
    longest = max((len(lit.this) for lit in node.find_all(exp.Literal) if lit.is_string),
                  default=1)
    return max([float(longest), *sizes])


def _built_sizes(node: exp.Func) -> Iterable[float | None]:
    """The sizes a function is asked to build (None where they depend on the data);
    nested builders multiply: ``repeat(repeat('x', 1000), 1000000)`` is 10^9."""
    sized = _size_argument(node)
    if sized is not None:
        arg, unit = sized
        count = _count(arg)
        yield None if count is None else count * unit
    elif isinstance(node, exp.Format) or (
            isinstance(node, exp.Anonymous) and func_name(node) in _FORMATTERS):
        args = [node.this, *node.expressions] if isinstance(node, exp.Format) \
            else list(node.expressions)
        if args and isinstance(args[0], exp.Literal) and args[0].is_string:
            for width, precision in _FORMAT_WIDTH.findall(args[0].this):
                yield float(width or 0)
                yield float(precision or 0)
            if "*" in args[0].this:  # a width or precision taken from the arguments
                yield from (_count(arg) for arg in args[1:])


def rule_bounded_sizes(tree: exp.Expression, ctx: GuardContext) -> str | None:
    for node in tree.find_all(exp.Func):
        for size in _built_sizes(node):
            if size is not None and size > MAX_BUILT_SIZE:
                built = "an unbounded value" if math.isinf(size) else \
                    f"a value of {size:,.0f} characters"
                return f"{func_name(node)}() would build {built} (at most {MAX_BUILT_SIZE:,})"
    return None


def _size_argument(node: exp.Func) -> tuple[exp.Expression, float] | None:
    """A builder's size argument and how many characters one unit of it builds
    (``repeat('ab', n)``: 2), for repeat, space, lpad / rpad, replicate and the blobs."""
    if isinstance(node, exp.Repeat):
        arg, unit = node.args.get("times"), _width(node.this)
    elif isinstance(node, exp.Space):
        arg, unit = node.this, 1.0
    elif isinstance(node, exp.Pad):
        arg, unit = node.expression, 1.0
    elif isinstance(node, exp.Anonymous) and func_name(node) in _BLOB_MAKERS \
            and node.expressions:
        arg, unit = node.expressions[0], 1.0
    else:
        return None
    return (arg, unit) if arg is not None else None


def bound_data_sizes(tree: exp.Expression) -> None:
    """Cap the size arguments that come from the data or a column (``repeat('x', n)``).

    The rule above can only judge constants; a size carried by a column (``WITH c AS
    (SELECT 300000000 AS n) SELECT repeat('x', n) FROM c``, or a large number in a real
    column) built 300 MB in a red-team run. Such an argument is rewritten to ``CASE WHEN
    n > cap THEN cap ELSE n END``, which every dialect reads, so no value passes a million
    characters and any answer that fits in chat is unchanged.
    """
    for node in list(tree.find_all(exp.Func)):
        sized = _size_argument(node)
        if sized is None:
            continue
        arg, unit = sized
        if _count(arg) is not None or _is_bound(arg):
            continue  # constants are judged by the rule; a bound is not bound twice
        cap = exp.Literal.number(max(1, int(MAX_BUILT_SIZE // max(unit, 1.0))))
        arg.replace(exp.Case(ifs=[exp.If(this=exp.GT(this=arg.copy(), expression=cap),
                                         true=cap.copy())], default=arg.copy()))


def _is_bound(arg: exp.Expression) -> bool:
    """``CASE WHEN n > cap THEN cap ELSE n END`` as written above, cap within the limit."""
    ifs = arg.args.get("ifs") if isinstance(arg, exp.Case) else None
    if not ifs or len(ifs) != 1:
        return False
    test, cap = ifs[0].this, ifs[0].args.get("true")
    value = _constant(cap)
    return isinstance(test, exp.GT) and value is not None and value <= MAX_BUILT_SIZE \
        and test.expression == cap and test.this == arg.args.get("default")
