"""What CloudWatch Logs extracts from an embedded-metric-format (EMF) log event.

A valid EMF document is a JSON object whose ``_aws`` member holds a millisecond ``Timestamp`` and
``CloudWatchMetrics``: directives, each with a ``Namespace``, ``Dimensions`` (a list of dimension
sets, each a list of root-member names whose values are strings; a set may be empty, and so
may the list, which makes one metric without dimensions) and
``Metrics`` (``Name`` of a root member holding a number or an array of numbers, optional
``Unit``, optional ``StorageResolution`` 1 or 60). Every dimension set of a directive makes its
own metric, so a value reported under two sets is counted in both, as CloudWatch does.

A document that breaks the specification produces no metric at all (CloudWatch counts it as an
EMF validation error and keeps the event as a plain log line); :func:`extract_metrics` then
returns an empty list and :func:`parse_document` says why.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

MAX_DIMENSIONS_PER_SET = 30
MAX_METRICS_PER_DIRECTIVE = 100
MAX_VALUES_PER_METRIC = 100
UNITS = frozenset(
    {
        "Seconds",
        "Microseconds",
        "Milliseconds",
        "Bytes",
        "Kilobytes",
        "Megabytes",
        "Gigabytes",
        "Terabytes",
        "Bits",
        "Kilobits",
        "Megabits",
        "Gigabits",
        "Terabits",
        "Percent",
        "Count",
        "Bytes/Second",
        "Kilobytes/Second",
        "Megabytes/Second",
        "Gigabytes/Second",
        "Terabytes/Second",
        "Bits/Second",
        "Kilobits/Second",
        "Megabits/Second",
        "Gigabits/Second",
        "Terabits/Second",
        "Count/Second",
        "None",
    }
)


class InvalidEMFError(ValueError):
    """The event is not a valid EMF document; it stays a plain log event."""


@dataclass(frozen=True)
class ExtractedMetric:
    """One metric of one dimension set, with every value the document gave it."""

    namespace: str
    name: str
    dimensions: tuple[tuple[str, str], ...]
    """(name, value) pairs in the order of the dimension set."""
    values: tuple[float, ...]
    unit: str
    timestamp_ms: int
    storage_resolution: int


def _number(value: Any) -> bool:
    return (
        isinstance(value, (int, float))
        and not isinstance(value, bool)
        and math.isfinite(float(value))
    )


def _require(condition: bool, why: str) -> None:
    if not condition:
        raise InvalidEMFError(why)


def _values(root: Mapping[str, Any], name: str) -> tuple[float, ...]:
    _require(name in root, f"metric {name!r} has no value on the root node")
    raw = root[name]
    if _number(raw):
        return (float(raw),)
    _require(isinstance(raw, list) and bool(raw), f"metric {name!r} is not a number or array")
    _require(len(raw) <= MAX_VALUES_PER_METRIC, f"metric {name!r} has over 100 values")
    _require(all(_number(item) for item in raw), f"metric {name!r} has a non-numeric value")
    return tuple(float(item) for item in raw)


def _dimension_sets(root: Mapping[str, Any], raw: Any) -> list[tuple[tuple[str, str], ...]]:
    _require(isinstance(raw, list), "Dimensions must be an array of dimension sets")
    sets = []
    for dimension_set in raw:
        _require(isinstance(dimension_set, list), "a dimension set must be an array")
        _require(
            len(dimension_set) <= MAX_DIMENSIONS_PER_SET,
            f"a dimension set has over {MAX_DIMENSIONS_PER_SET} dimensions",
        )
        pairs: list[tuple[str, str]] = []
        for key in dimension_set:
            _require(isinstance(key, str) and bool(key), "a dimension name must be a string")
            value = root.get(key)
            _require(
                isinstance(value, str) and bool(value),
                f"dimension {key!r} needs a string value on the root node",
            )
            pairs.append((key, str(value)))
        sets.append(tuple(pairs))
    return sets or [()]  # no dimension set at all: one metric without dimensions


def parse_document(document: Any) -> list[ExtractedMetric]:
    """The metrics of one EMF document (an already decoded JSON value).

    Raises :class:`InvalidEMFError` when it is not a valid document.
    """
    _require(isinstance(document, dict), "an EMF document is a JSON object")
    metadata = document.get("_aws")
    _require(isinstance(metadata, dict), "_aws must be an object")
    timestamp = metadata.get("Timestamp")
    _require(_number(timestamp), "_aws.Timestamp must be milliseconds since the epoch")
    directives = metadata.get("CloudWatchMetrics")
    _require(isinstance(directives, list), "_aws.CloudWatchMetrics must be an array")
    metrics: list[ExtractedMetric] = []
    for directive in directives:
        _require(isinstance(directive, dict), "a metric directive must be an object")
        namespace = directive.get("Namespace")
        _require(
            isinstance(namespace, str) and 1 <= len(namespace) <= 255,
            "Namespace must be a string of 1 to 255 characters",
        )
        dimension_sets = _dimension_sets(document, directive.get("Dimensions"))
        definitions = directive.get("Metrics")
        _require(isinstance(definitions, list), "Metrics must be an array")
        _require(len(definitions) <= MAX_METRICS_PER_DIRECTIVE, "over 100 metric definitions")
        for definition in definitions:
            _require(isinstance(definition, dict), "a metric definition must be an object")
            name = definition.get("Name")
            _require(isinstance(name, str) and bool(name), "a metric needs a Name")
            unit = definition.get("Unit", "None")
            _require(unit in UNITS, f"metric {name!r} has an unknown unit {unit!r}")
            resolution = definition.get("StorageResolution", 60)
            _require(resolution in (1, 60), f"metric {name!r}: StorageResolution is 1 or 60")
            values = _values(document, name)
            metrics.extend(
                ExtractedMetric(
                    namespace=namespace,
                    name=name,
                    dimensions=dimensions,
                    values=values,
                    unit=unit,
                    timestamp_ms=int(timestamp),
                    storage_resolution=int(resolution),
                )
                for dimensions in dimension_sets
            )
    return metrics


def extract_metrics(message: str) -> list[ExtractedMetric]:
    """The metrics a log event's message carries; empty for anything but valid EMF."""
    if "_aws" not in message:  # cheap test first: most log lines are not EMF
        return []
    try:
        return parse_document(json.loads(message))
    except ValueError:  # not JSON, or InvalidEMFError
        return []
