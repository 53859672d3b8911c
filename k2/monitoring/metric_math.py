"""GetMetricData as a pure function: metric queries, SEARCH and metric math over raw samples.

:func:`evaluate_queries` takes ``MetricDataQueries`` as the API receives them (dicts with
``Id``, ``MetricStat`` or ``Expression``, ``Label``, ``Period``, ``ReturnData``), the query's
time range and every stored sample by metric, and returns the series of each returned query.
The local CloudWatch's GetMetricData and its alarm evaluator both use it, so a dashboard line and
an alarm on the same definition see the same numbers.

Expressions are parsed with :mod:`ast` (never evaluated as Python) and only this subset of
CloudWatch metric math is accepted, which is what the platform's dashboard and alarms use:

* numbers, query ids, arrays ``[a, b]``, ``+ - * /`` and unary minus; an operation between a
  series and a number applies to every point, between two series to the points they share
  (division by zero leaves the point out), and between an array and a number or series to
  each member;
* ``SEARCH('<search>', '<stat>', <period>)`` (see :mod:`k2.monitoring.metric_search`): an array
  with one series per matching metric;
* ``SUM``, ``AVG``, ``MIN``, ``MAX``: of an array, one series, point by point over the members
  that have a value; of one series, a single number over its points;
* ``FILL(x, value)``: every missing point of ``x`` (a series or an array) set to ``value``;
* ``ABS(x)``.

Anything else fails with :class:`MetricMathError`, which the endpoint returns as CloudWatch's
``ValidationError``.
"""

from __future__ import annotations

import ast
import math
import operator
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, TypeAlias

from k2.monitoring.metric_search import (
    MetricIdentity,
    SearchError,
    default_search_label,
    render_label,
    search,
)
from k2.monitoring.metric_statistics import (
    Sample,
    UnsupportedStatisticError,
    bucket_values,
    is_supported,
    periods_between,
    statistic_value,
)

MetricStore = Mapping[MetricIdentity, Sequence[Sample]]
"""Every stored sample, by metric."""


class MetricMathError(ValueError):
    """A query or expression the local CloudWatch cannot evaluate; the message says why."""


@dataclass(frozen=True)
class Series:
    """One line: a value (or None, missing) at the start of each period."""

    label: str
    timestamps: tuple[float, ...]
    values: tuple[float | None, ...]
    properties: tuple[tuple[str, str], ...] = field(default=())
    """What a dynamic label can name (``Dim.exchange``, ``MetricName``...)."""

    def points(self) -> list[tuple[float, float]]:
        return [(t, v) for t, v in zip(self.timestamps, self.values, strict=True) if v is not None]


Scalar: TypeAlias = float | None
Value: TypeAlias = float | Series | list[Series] | None
"""What an expression evaluates to: a number, one series, or an array of series."""


@dataclass(frozen=True)
class QueryOutput:
    """What one returned query produced: its id and its lines (several for SEARCH)."""

    query_id: str
    series: tuple[Series, ...]


def _grid(start_s: float, end_s: float, period_s: int) -> tuple[float, ...]:
    return tuple(start_s + i * period_s for i in range(periods_between(start_s, end_s, period_s)))


def metric_series(
    samples: Sequence[Sample],
    statistic: str,
    start_s: float,
    end_s: float,
    period_s: int,
    unit: str | None = None,
) -> list[float | None]:
    """``statistic`` of each period of ``[start, end)``; None where a period has no value."""
    if unit is not None:
        samples = [sample for sample in samples if sample.unit == unit]
    grid = _grid(start_s, end_s, period_s)
    buckets = bucket_values(samples, start_s, period_s, len(grid))
    return [statistic_value(values, statistic) for values in buckets]


# -- operations on values ---------------------------------------------------------------------


def _binary(op: Callable[[float, float], float], left: Value, right: Value) -> Value:
    if isinstance(left, list):
        if isinstance(right, list):
            raise MetricMathError("an operation between two arrays of time series is undefined")
        return [_series_op(op, member, right) for member in left]
    if isinstance(right, list):
        return [_series_op(op, left, member) for member in right]
    if isinstance(left, Series) or isinstance(right, Series):
        return _series_op(op, left, right)
    return _apply(op, left, right)


def _apply(op: Callable[[float, float], float], left: Scalar, right: Scalar) -> Scalar:
    if left is None or right is None:
        return None
    try:
        return op(left, right)
    except ZeroDivisionError:
        return None


def _series_op(
    op: Callable[[float, float], float], left: Scalar | Series, right: Scalar | Series
) -> Series:
    if isinstance(left, Series) and isinstance(right, Series):
        lefts, rights = (
            dict(zip(left.timestamps, left.values, strict=True)),
            dict(zip(right.timestamps, right.values, strict=True)),
        )
        timestamps = tuple(sorted(set(lefts) | set(rights)))
        values = tuple(_apply(op, lefts.get(t), rights.get(t)) for t in timestamps)
        return Series(left.label, timestamps, values, left.properties)
    if isinstance(left, Series):
        return replace(left, values=tuple(_apply(op, v, right) for v in left.values))  # type: ignore[arg-type]
    assert isinstance(right, Series)
    return replace(right, values=tuple(_apply(op, left, v) for v in right.values))


def _aggregate_values(name: str, values: Sequence[float]) -> Scalar:
    if not values:
        return None
    if name == "SUM":
        return math.fsum(values)
    if name == "AVG":
        return math.fsum(values) / len(values)
    return min(values) if name == "MIN" else max(values)


def _aggregate(name: str, argument: Value) -> Value:
    if isinstance(argument, Series):
        return _aggregate_values(name, [v for v in argument.values if v is not None])
    if not isinstance(argument, list):
        raise MetricMathError(f"{name} takes a time series or an array of time series")
    timestamps = sorted({t for member in argument for t in member.timestamps})
    by_member = [dict(zip(m.timestamps, m.values, strict=True)) for m in argument]
    values = tuple(
        _aggregate_values(name, [v for member in by_member if (v := member.get(t)) is not None])
        for t in timestamps
    )
    return Series(name, tuple(timestamps), values)


def _fill(argument: Value, filler: Value) -> Value:
    if isinstance(filler, (Series, list)) or filler is None:
        raise MetricMathError("FILL takes a number as its second argument (REPEAT, LINEAR: no)")
    if isinstance(argument, list):
        return [_fill(member, filler) for member in argument]  # type: ignore[misc]
    if not isinstance(argument, Series):
        raise MetricMathError("FILL takes a time series or an array of time series")
    return replace(argument, values=tuple(filler if v is None else v for v in argument.values))


def _abs(argument: Value) -> Value:
    if isinstance(argument, list):
        return [_abs(member) for member in argument]  # type: ignore[misc]
    if isinstance(argument, Series):
        return replace(
            argument, values=tuple(None if v is None else abs(v) for v in argument.values)
        )
    return None if argument is None else abs(argument)


_OPERATORS: dict[type[ast.operator], Callable[[float, float], float]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
}


_FUNCTIONS = ("SUM", "AVG", "MIN", "MAX", "FILL", "ABS")

# -- the evaluator ------------------------------------------------------------------------------


@dataclass
class _Evaluation:
    queries: Mapping[str, Mapping[str, Any]]
    start_s: float
    end_s: float
    store: MetricStore
    done: dict[str, Value] = field(default_factory=dict)
    running: set[str] = field(default_factory=set)

    def value_of(self, query_id: str) -> Value:
        if query_id in self.done:
            return self.done[query_id]
        if query_id not in self.queries:
            raise MetricMathError(f"Unknown metric id {query_id!r} in an expression")
        if query_id in self.running:
            raise MetricMathError(f"Circular reference through {query_id!r}")
        self.running.add(query_id)
        query = self.queries[query_id]
        if "MetricStat" in query:
            value: Value = self._metric_stat(query)
        else:
            value = self._expression(query)
        self.running.discard(query_id)
        self.done[query_id] = value
        return value

    def _metric_stat(self, query: Mapping[str, Any]) -> Series:
        stat = query["MetricStat"]
        metric = stat["Metric"]
        statistic = stat["Stat"]
        if not is_supported(statistic):
            raise MetricMathError(f"The statistic {statistic!r} is not supported locally")
        period = int(stat["Period"])
        identity = MetricIdentity.of(
            metric["Namespace"],
            metric["MetricName"],
            ((d["Name"], d["Value"]) for d in metric.get("Dimensions") or ()),
        )
        values = metric_series(
            self.store.get(identity, ()),
            statistic,
            self.start_s,
            self.end_s,
            period,
            stat.get("Unit"),
        )
        properties = {**identity.properties(), "Stat": statistic, "Period": str(period)}
        return Series(
            identity.name,
            _grid(self.start_s, self.end_s, period),
            tuple(values),
            tuple(properties.items()),
        )

    def _expression(self, query: Mapping[str, Any]) -> Value:
        text = query["Expression"]
        if text.lstrip().upper().startswith("SELECT"):
            raise MetricMathError("Metrics Insights (SELECT) queries are not supported locally")
        try:
            tree = ast.parse(text.strip(), mode="eval")
        except SyntaxError as error:
            raise MetricMathError(f"Syntax error in expression {text!r}: {error.msg}") from None
        return self._node(tree.body, query)

    def _node(self, node: ast.AST, query: Mapping[str, Any]) -> Value:
        if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)):
            if isinstance(node.value, bool):
                raise MetricMathError("booleans are not metric math")
            return float(node.value)
        if isinstance(node, ast.Name):
            return self.value_of(node.id)
        if isinstance(node, ast.List):
            members: list[Series] = []
            for element in node.elts:
                value = self._node(element, query)
                if isinstance(value, list):
                    members.extend(value)
                elif isinstance(value, Series):
                    members.append(value)
                else:
                    raise MetricMathError("an array holds time series, not numbers")
            return members
        if isinstance(node, ast.BinOp) and type(node.op) in _OPERATORS:
            return _binary(
                _OPERATORS[type(node.op)],
                self._node(node.left, query),
                self._node(node.right, query),
            )
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
            sign = -1.0 if isinstance(node.op, ast.USub) else 1.0
            return _binary(operator.mul, sign, self._node(node.operand, query))
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and not node.keywords:
            return self._call(node.func.id, node.args, query)
        raise MetricMathError(f"Unsupported syntax in expression: {ast.unparse(node)!r}")

    def _call(self, name: str, args: list[ast.expr], query: Mapping[str, Any]) -> Value:
        if name == "SEARCH":
            return self._search(args, query)
        if name not in _FUNCTIONS:
            raise MetricMathError(
                f"Unsupported function {name}; the local CloudWatch supports SEARCH, "
                f"{', '.join(_FUNCTIONS)}"
            )
        arguments = [self._node(arg, query) for arg in args]
        if name in ("SUM", "AVG", "MIN", "MAX") and len(arguments) == 1:
            return _aggregate(name, arguments[0])
        if name == "FILL" and len(arguments) == 2:
            return _fill(arguments[0], arguments[1])
        if name == "ABS" and len(arguments) == 1:
            return _abs(arguments[0])
        raise MetricMathError(f"{name} does not take {len(arguments)} argument(s)")

    def _search(self, args: list[ast.expr], query: Mapping[str, Any]) -> list[Series]:
        constants = [arg.value if isinstance(arg, ast.Constant) else None for arg in args]
        if len(constants) not in (2, 3) or not all(isinstance(c, str) for c in constants[:2]):
            raise MetricMathError("SEARCH takes ('<search expression>', '<stat>'[, period])")
        text, statistic = str(constants[0]), str(constants[1])
        period_arg = constants[2] if len(constants) == 3 else query.get("Period")
        if not isinstance(period_arg, (int, float)) or isinstance(period_arg, bool):
            raise MetricMathError("SEARCH needs a period (third argument or the query's Period)")
        if not is_supported(statistic):
            raise MetricMathError(f"The statistic {statistic!r} is not supported locally")
        period = int(period_arg)
        try:
            matches = search(text, self.store.keys())
        except SearchError as error:
            raise MetricMathError(str(error)) from None
        grid = _grid(self.start_s, self.end_s, period)
        lines = []
        for identity in matches:
            values = metric_series(
                self.store[identity], statistic, self.start_s, self.end_s, period
            )
            properties = {**identity.properties(), "Stat": statistic, "Period": str(period)}
            lines.append(
                Series(
                    default_search_label(identity), grid, tuple(values), tuple(properties.items())
                )
            )
        return lines


def _labelled(series: Series, template: str | None) -> Series:
    if not template:
        return series
    properties = dict(series.properties)
    values = [value for _, value in series.points()]
    return replace(series, label=render_label(template, properties, series.label, values))


def _as_lines(query: Mapping[str, Any], value: Value, start_s: float, end_s: float) -> list[Series]:
    query_id = query["Id"]
    if isinstance(value, list):
        return value
    if isinstance(value, Series):
        if "Expression" in query and not query.get("Label"):
            return [replace(value, label=query_id)]
        return [value]
    period = query.get("Period")
    if not period:
        raise MetricMathError(
            f"Expression {query_id!r} returns a single number; give the query a Period to draw it"
        )
    grid = _grid(start_s, end_s, int(period))
    return [Series(query_id, grid, tuple(value for _ in grid))]


def evaluate_queries(
    queries: Sequence[Mapping[str, Any]], start_s: float, end_s: float, store: MetricStore
) -> list[QueryOutput]:
    """Every query with ``ReturnData`` (default true), in the order given, with its lines."""
    by_id: dict[str, Mapping[str, Any]] = {}
    for query in queries:
        query_id = query.get("Id")
        if not query_id:
            raise MetricMathError("every MetricDataQuery needs an Id")
        if query_id in by_id:
            raise MetricMathError(f"The Id {query_id!r} is used by more than one query")
        if ("MetricStat" in query) == ("Expression" in query):
            raise MetricMathError(f"Query {query_id!r} needs exactly one of MetricStat, Expression")
        by_id[query_id] = query
    evaluation = _Evaluation(by_id, start_s, end_s, store)
    try:
        outputs = []
        for query in queries:
            value = evaluation.value_of(query["Id"])
            if query.get("ReturnData", True) is False:
                continue
            lines = _as_lines(query, value, start_s, end_s)
            outputs.append(
                QueryOutput(
                    query["Id"], tuple(_labelled(line, query.get("Label")) for line in lines)
                )
            )
        return outputs
    except UnsupportedStatisticError as error:
        raise MetricMathError(str(error)) from None
