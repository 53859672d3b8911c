"""CloudWatch ``SEARCH`` expressions and dynamic labels, as the platform's dashboard uses them.

``SEARCH('{K2,exchange,service} MetricName="TradesPublished" service="k2-feed-handler"', 'Sum',
60)`` finds every metric of namespace ``K2`` whose dimension names are exactly ``exchange`` and
``service`` (the ``{namespace,dimensions...}`` schema), named ``TradesPublished``, with
``service`` equal to ``k2-feed-handler``; each becomes one line. Supported terms, joined by
spaces (an implicit AND):

* ``Name="value"`` or ``Name=value``: ``MetricName``, ``Namespace`` or a dimension name equals
  the value exactly;
* a bare or quoted word: some namespace, metric name, dimension name or value contains it
  (case-insensitive).

``OR``, ``NOT`` and parentheses are refused with a clear error rather than misread.

Dynamic labels: ``${PROP('Dim.<name>')}``, ``${PROP('MetricName')}``, ``${PROP('Namespace')}``,
``${PROP('Stat')}``, ``${PROP('Period')}``, and ``${LABEL}`` (the default label) are replaced per
line; ``${SUM}``, ``${AVG}``, ``${MIN}``, ``${MAX}``, ``${FIRST}``, ``${LAST}`` by that summary
of the line's values. A line of a search with no label is labelled by its dimension values then
its metric name (``binance k2-feed-handler TradesPublished``).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass


class SearchError(ValueError):
    """The search expression uses syntax the local CloudWatch does not support."""


@dataclass(frozen=True, order=True)
class MetricIdentity:
    """What identifies a CloudWatch metric: namespace, name and the full dimension set."""

    namespace: str
    name: str
    dimensions: tuple[tuple[str, str], ...]
    """(name, value) pairs sorted by name."""

    @classmethod
    def of(cls, namespace: str, name: str, dimensions: Iterable[tuple[str, str]]) -> MetricIdentity:
        return cls(namespace, name, tuple(sorted(dimensions)))

    def properties(self) -> dict[str, str]:
        """What ``${PROP(...)}`` can name."""
        return {
            "Namespace": self.namespace,
            "MetricName": self.name,
            **{f"Dim.{name}": value for name, value in self.dimensions},
        }


@dataclass(frozen=True)
class SearchQuery:
    """A parsed search: an optional schema and the terms every match must satisfy."""

    schema_namespace: str | None
    schema_dimensions: frozenset[str] | None
    exact: tuple[tuple[str, str], ...]
    words: tuple[str, ...]

    def matches(self, metric: MetricIdentity) -> bool:
        if self.schema_namespace is not None:
            if metric.namespace != self.schema_namespace:
                return False
            if frozenset(name for name, _ in metric.dimensions) != self.schema_dimensions:
                return False
        properties = metric.properties()
        dimension_values = dict(metric.dimensions)
        for key, value in self.exact:
            actual = properties.get(key) if key in ("MetricName", "Namespace") else None
            if actual is None:
                actual = dimension_values.get(key)
            if actual != value:
                return False
        haystack = [metric.namespace, metric.name] + [
            text for pair in metric.dimensions for text in pair
        ]
        return all(any(word in text.lower() for text in haystack) for word in self.words)


_TOKEN = re.compile(
    r'\{[^}]*\}|[^\s"=(){}]+="[^"]*"|[^\s"=(){}]+=[^\s"(){}]+|"[^"]*"|[()]|[^\s"(){}]+'
)


def _unquote(text: str) -> str:
    text = text.strip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "\"'":
        return text[1:-1]
    return text


def parse_search(text: str) -> SearchQuery:
    """Parse the first argument of ``SEARCH(...)``."""
    tokens = _TOKEN.findall(text)
    if "".join(tokens).replace(" ", "") != re.sub(r"\s+", "", text):
        raise SearchError(f"cannot parse search expression {text!r}")
    namespace: str | None = None
    dimensions: frozenset[str] | None = None
    exact: list[tuple[str, str]] = []
    words: list[str] = []
    for token in tokens:
        if token.startswith("{"):
            if namespace is not None:
                raise SearchError("a search expression has at most one {namespace,...} schema")
            parts = [_unquote(part) for part in token[1:-1].split(",")]
            if not parts or not parts[0]:
                raise SearchError(f"the schema {token} needs a namespace")
            namespace, dimensions = parts[0], frozenset(part for part in parts[1:] if part)
        elif token in ("(", ")") or token.upper() in ("OR", "NOT", "AND"):
            raise SearchError(f"search operator {token!r} is not supported locally")
        elif "=" in token and not token.startswith('"'):
            key, _, value = token.partition("=")
            exact.append((key, _unquote(value)))
        else:
            words.append(_unquote(token).lower())
    return SearchQuery(namespace, dimensions, tuple(exact), tuple(words))


def search(text: str, metrics: Iterable[MetricIdentity]) -> list[MetricIdentity]:
    """Every metric the search expression matches, in a stable order."""
    query = parse_search(text)
    return sorted(metric for metric in set(metrics) if query.matches(metric))


def default_search_label(metric: MetricIdentity) -> str:
    return " ".join([*(value for _, value in metric.dimensions), metric.name])


_DYNAMIC = re.compile(r"\$\{(PROP\('([^']*)'\)|[A-Z]+)\}")


def _summary(name: str, values: Sequence[float]) -> str | None:
    if not values:
        return "" if name in ("SUM", "AVG", "MIN", "MAX", "FIRST", "LAST") else None
    summaries = {
        "SUM": math.fsum(values),
        "AVG": math.fsum(values) / len(values),
        "MIN": min(values),
        "MAX": max(values),
        "FIRST": values[0],
        "LAST": values[-1],
    }
    value = summaries.get(name)
    return None if value is None else f"{value:g}"


def render_label(
    template: str, properties: Mapping[str, str], default: str, values: Sequence[float] = ()
) -> str:
    """Replace the dynamic parts of a label (see module doc); unknown ones are left as written."""

    def replace(match: re.Match[str]) -> str:
        if match.group(2) is not None:
            return properties.get(match.group(2), match.group(0))
        if match.group(1) == "LABEL":
            return default
        summary = _summary(match.group(1), values)
        return match.group(0) if summary is None else summary

    return _DYNAMIC.sub(replace, template)
