"""The metrics AWS's API Gateway and Lambda publish about the API, published by the local gateway.

In AWS, the services publish ``AWS/ApiGateway`` (per ``ApiName``) and ``AWS/Lambda`` (per
``FunctionName``) themselves, with ``PutMetricData``-style aggregated datapoints, not log lines;
the local gateway does the same against the local endpoint, so the dashboard's gateway panels and
the API alarms read real numbers locally. Only what ``k2.monitoring.metrics`` catalogues is
published, under the names ``k2.local.monitoring_resources`` gives the local deployment:

* per request the gateway answered: ``Count`` 1, ``4XXError`` and ``5XXError`` 1 or 0 (AWS's
  Average of them is the error rate), ``Latency`` from request to response;
* per invocation of the function: ``Invocations`` 1, ``Errors`` 1 when it raised (or failed to
  load) and 0 otherwise, ``Duration``. ``Throttles`` never happens here: the local function has no
  concurrency limit (a usage-plan 429 is the gateway's, counted in ``4XXError``).

Requests only append to a buffer; a background thread sends it every few seconds, grouped per
metric and second as ``Values``/``Counts`` (the percentiles stay computable, and an alarm's
sliding periods see each request at its own second), and once more on close. A failed send
is logged and dropped, as a metrics agent would: it must never fail a request.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from k2.aws import aws_client
from k2.local.monitoring_resources import local_resources
from k2.monitoring import metrics as m
from k2.monitoring.metrics import MetricSpec, Resource
from k2.settings import K2Settings

FLUSH_INTERVAL_S = 5.0
MAX_VALUES_PER_DATUM = 150
"""PutMetricData's limit on distinct ``Values`` in one datum."""
MAX_DATA_PER_CALL = 500
"""Below PutMetricData's 1000 datums per request, so a call also stays well under 1 MB."""

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Datapoint:
    spec: MetricSpec
    value: float
    at: datetime


def request_datapoints(status: int, latency_ms: float, at: datetime) -> list[Datapoint]:
    """What API Gateway counts for one answered request."""
    return [
        Datapoint(m.GATEWAY_COUNT, 1.0, at),
        Datapoint(m.GATEWAY_4XX, 1.0 if 400 <= status < 500 else 0.0, at),
        Datapoint(m.GATEWAY_5XX, 1.0 if 500 <= status < 600 else 0.0, at),
        Datapoint(m.GATEWAY_LATENCY, latency_ms, at),
    ]


def invocation_datapoints(duration_ms: float, failed: bool, at: datetime) -> list[Datapoint]:
    """What Lambda counts for one invocation."""
    return [
        Datapoint(m.LAMBDA_INVOCATIONS, 1.0, at),
        Datapoint(m.LAMBDA_ERRORS, 1.0 if failed else 0.0, at),
        Datapoint(m.LAMBDA_DURATION, duration_ms, at),
    ]


def _dimensions(spec: MetricSpec, resources: Mapping[Resource, str]) -> list[dict[str, str]]:
    dimensions = []
    for dimension in spec.dimensions:
        if isinstance(dimension.value, Resource):
            value = resources[dimension.value]
        elif dimension.value is None:
            raise ValueError(f"{spec.name}: open dimension {dimension.name} has no value here")
        else:
            value = dimension.value
        dimensions.append({"Name": dimension.name, "Value": value})
    return dimensions


def _chunks(items: list[Any], size: int) -> Iterator[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def metric_data(
    datapoints: Iterable[Datapoint], resources: Mapping[Resource, str]
) -> dict[str, list[dict[str, Any]]]:
    """PutMetricData's ``MetricData`` per namespace: one datum per metric and second, its values
    with their counts (at most :data:`MAX_VALUES_PER_DATUM` distinct values each)."""
    grouped: dict[tuple[MetricSpec, datetime], Counter[float]] = defaultdict(Counter)
    for point in datapoints:
        second = point.at.astimezone(UTC).replace(microsecond=0)
        grouped[(point.spec, second)][point.value] += 1
    data: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for (spec, second), counts in grouped.items():
        for chunk in _chunks(sorted(counts.items()), MAX_VALUES_PER_DATUM):
            data[spec.namespace.value].append(
                {
                    "MetricName": spec.name,
                    "Dimensions": _dimensions(spec, resources),
                    "Timestamp": second,
                    "Unit": spec.unit.value,
                    "Values": [value for value, _ in chunk],
                    "Counts": [float(count) for _, count in chunk],
                }
            )
    return dict(data)


class GatewayMetrics:
    """Buffers datapoints and publishes them from a background thread."""

    def __init__(
        self,
        client: Any,
        resources: Mapping[Resource, str],
        interval_s: float = FLUSH_INTERVAL_S,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._client = client
        self._resources = dict(resources)
        self._interval_s = interval_s
        self._clock = clock
        self._buffer: list[Datapoint] = []
        self._lock = threading.Lock()
        self._send_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._failing = False

    def record_request(self, status: int, latency_ms: float) -> None:
        self._add(request_datapoints(status, latency_ms, self._clock()))

    def record_invocation(self, duration_ms: float, failed: bool) -> None:
        self._add(invocation_datapoints(duration_ms, failed, self._clock()))

    def _add(self, points: list[Datapoint]) -> None:
        with self._lock:
            self._buffer.extend(points)

    def start(self) -> GatewayMetrics:
        self._thread = threading.Thread(target=self._run, name="gateway-metrics", daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(self._interval_s):
            self.flush()

    def close(self) -> None:
        """Stop the thread and send what is still buffered."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self.flush()

    def flush(self) -> int:
        """Send the buffer now; returns how many datums were sent."""
        with self._send_lock:
            with self._lock:
                points, self._buffer = self._buffer, []
            if not points:
                return 0
            sent = 0
            try:
                for namespace, data in metric_data(points, self._resources).items():
                    for chunk in _chunks(data, MAX_DATA_PER_CALL):
                        self._client.put_metric_data(Namespace=namespace, MetricData=chunk)
                        sent += len(chunk)
            except Exception:
                if not self._failing:
                    log.warning("could not publish gateway metrics (dropped)", exc_info=True)
                self._failing = True
            else:
                self._failing = False
            return sent


def local_gateway_metrics(settings: K2Settings) -> GatewayMetrics | None:
    """The publisher for a gateway in front of the local cloud, started; None without a local
    endpoint (never publish AWS's own namespaces to a real account)."""
    if settings.aws_endpoint_url is None:
        return None
    client = aws_client("cloudwatch", settings)
    return GatewayMetrics(client, local_resources(settings)).start()
