"""How a panel or an alarm reads a catalogued metric: one series, a SEARCH, or metric math.

* :class:`MetricQuery` is one time series: every open dimension of the metric gets a value.
  Alarms use these (CloudWatch alarms cannot evaluate SEARCH expressions).
* :class:`SearchQuery` is one line per value of the dimensions it leaves open, found at
  display time: ``SEARCH('{K2,exchange,service} MetricName="TradesPublished"
  service="k2-feed-handler"', 'Sum', 60)`` draws one line per exchange that reported, so the
  dashboard needs no list of exchanges, routes or tables. The ``{namespace,dims}`` schema
  matches exactly the metric's dimension set, so another metric of the same name never leaks in.
* :class:`MathQuery` combines named queries with CloudWatch metric math.

Deployment names (API name, function name, rule name...) stay :class:`Resource` placeholders
until rendering, where the CDK app passes a :data:`Resources` mapping.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from k2.monitoring.metrics import MetricSpec, Resource, Resources


class Statistic(StrEnum):
    """CloudWatch statistics, as the strings ``aws_cdk.aws_cloudwatch.Metric`` takes."""

    SUM = "Sum"
    AVERAGE = "Average"
    MAXIMUM = "Maximum"
    MINIMUM = "Minimum"
    SAMPLE_COUNT = "SampleCount"
    P50 = "p50"
    P99 = "p99"


_QUERY_ID = re.compile(r"[a-z][a-zA-Z0-9_]*")


def _resolve(value: str | Resource, resources: Resources) -> str:
    if isinstance(value, Resource):
        if value not in resources:
            raise KeyError(f"no name given for {value!r}")
        return resources[value]
    return value


def _check_period(period_s: int) -> None:
    if period_s not in (1, 5, 10, 30) and period_s % 60:
        raise ValueError(f"a CloudWatch period is 1, 5, 10, 30 or a multiple of 60 s: {period_s}")


@dataclass(frozen=True)
class MetricQuery:
    """One time series of ``metric``; ``values`` gives each of its open dimensions a value."""

    metric: MetricSpec
    statistic: Statistic
    period_s: int = 60
    values: tuple[tuple[str, str | Resource], ...] = ()
    label: str = ""

    def __post_init__(self) -> None:
        _check_period(self.period_s)
        given = sorted(name for name, _ in self.values)
        if given != sorted(self.metric.open_dimensions):
            raise ValueError(
                f"{self.metric.key}: values for {sorted(self.metric.open_dimensions)} "
                f"needed, got {given}"
            )

    def dimensions(self, resources: Resources) -> dict[str, str]:
        """The full dimension map (``dimensions_map`` of a CDK ``Metric``)."""
        fixed = {
            dimension.name: _resolve(dimension.value, resources)
            for dimension in self.metric.dimensions
            if dimension.value is not None
        }
        return fixed | {name: _resolve(value, resources) for name, value in self.values}


@dataclass(frozen=True)
class SearchQuery:
    """One line per value of the open dimensions not pinned by ``filters`` (see module doc)."""

    metric: MetricSpec
    statistic: Statistic
    period_s: int = 60
    filters: tuple[tuple[str, str], ...] = ()
    label: str = ""

    def __post_init__(self) -> None:
        _check_period(self.period_s)
        unknown = {name for name, _ in self.filters} - set(self.metric.open_dimensions)
        if unknown:
            raise ValueError(f"{self.metric.key}: cannot filter on {sorted(unknown)}")
        if not self.split_by:
            raise ValueError(f"{self.metric.key}: nothing to search; use a MetricQuery")

    @property
    def split_by(self) -> tuple[str, ...]:
        """The dimensions whose values become separate lines."""
        pinned = {name for name, _ in self.filters}
        return tuple(name for name in self.metric.open_dimensions if name not in pinned)

    def expression(self, resources: Resources) -> str:
        schema = ",".join([self.metric.namespace.value, *self.metric.dimension_names])
        pinned: list[tuple[str, str]] = [
            (dimension.name, _resolve(dimension.value, resources))
            for dimension in self.metric.dimensions
            if dimension.value is not None
        ]
        terms = [f'MetricName="{self.metric.name}"'] + [
            f'{name}="{value}"' for name, value in [*pinned, *self.filters]
        ]
        return (
            f"SEARCH('{{{schema}}} {' '.join(terms)}', '{self.statistic.value}', {self.period_s})"
        )


@dataclass(frozen=True)
class MathQuery:
    """Metric math over named queries, e.g. ``SUM(FILL([a, b], 0))``."""

    expression: str
    using: tuple[tuple[str, MetricQuery | SearchQuery], ...]
    label: str
    period_s: int = 60

    def __post_init__(self) -> None:
        _check_period(self.period_s)
        for query_id, _ in self.using:
            if not _QUERY_ID.fullmatch(query_id):
                raise ValueError(f"metric math ids start with a lower-case letter: {query_id!r}")
            if not re.search(rf"\b{query_id}\b", self.expression):
                raise ValueError(f"{query_id!r} is not used in {self.expression!r}")


Query = MetricQuery | SearchQuery | MathQuery


def metrics_read(query: Query) -> tuple[MetricSpec, ...]:
    """Every catalogued metric a query reads."""
    if isinstance(query, MathQuery):
        return tuple(spec for _, inner in query.using for spec in metrics_read(inner))
    return (query.metric,)
