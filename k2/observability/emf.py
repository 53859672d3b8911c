"""Platform metrics as CloudWatch embedded-metric-format (EMF) documents, written by Powertools.

In AWS, stdout reaches CloudWatch Logs without help (Lambda, the ECS ``awslogs`` driver, Glue's
driver log) and CloudWatch Logs turns each EMF document into metrics. The local cloud has no
such runtime, so when ``K2_METRICS_LOG_GROUP`` is set every flushed document is also sent with
``PutLogEvents`` to that log group on the configured endpoint, whose CloudWatch Logs extracts the
metrics the same way (``k2.local.cloudwatch_service``). Unset, which is the default and the AWS
setting, documents only go to stdout.

Every :func:`emf_metrics` has its own metric set: Powertools' ``Metrics`` class shares one set
between all instances of a process, which would mix two feed handlers' counters when they run in
one process (as in the demo).
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import json
import logging
import os
import queue
import socket
import threading
import time
from collections.abc import Mapping
from typing import Any

from aws_lambda_powertools.metrics.functions import is_metrics_disabled
from aws_lambda_powertools.metrics.provider.cloudwatch_emf.cloudwatch import (
    AmazonCloudWatchEMFProvider,
)
from pydantic_settings import BaseSettings, SettingsConfigDict

from k2.aws import aws_client
from k2.settings import K2Settings

NAMESPACE = "K2"
"""The platform's one metric namespace; a ``service`` dimension tells the emitters apart."""

log = logging.getLogger(__name__)


class MetricsSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="K2_METRICS_", extra="ignore", frozen=True)

    log_group: str | None = None
    """Where EMF documents are also sent with PutLogEvents; set only by the local cloud."""
    stdout: bool = True
    """False keeps documents off stdout (still shipped): for a process whose stdout is a
    person's terminal, such as ``k2 demo``."""


class LogGroupShipper:
    """Sends EMF documents to one CloudWatch Logs stream from a background thread, in batches,
    creating group and stream on first use; :meth:`ship` only queues, so the process it observes
    (a request, an event loop) never waits for the endpoint.

    Shipping must never break that process: a failed call is logged and its batch dropped, as a
    metrics agent would drop it. Queued documents are sent at exit (:func:`flush_shipped_metrics`
    runs then) or when a caller flushes.
    """

    BATCH_WINDOW_S = 0.2
    """How long the worker gathers documents into one PutLogEvents call."""
    MAX_BATCH = 1000

    def __init__(self, log_group: str, log_stream: str, client: Any) -> None:
        self.log_group = log_group
        self.log_stream = log_stream
        self._client = client
        self._ready = False
        self._queue: queue.Queue[dict[str, Any]] = queue.Queue()
        self._worker: threading.Thread | None = None
        self._start_lock = threading.Lock()

    def ship(self, document: Mapping[str, Any]) -> None:
        timestamp_ms = int(document.get("_aws", {}).get("Timestamp") or time.time() * 1000)
        message = json.dumps(document, separators=(",", ":"))
        self._queue.put({"timestamp": timestamp_ms, "message": message})
        self._ensure_worker()

    def flush(self, timeout_s: float = 10.0) -> bool:
        """Wait until every queued document was sent (or dropped); False on timeout."""
        deadline = time.monotonic() + timeout_s
        while self._queue.unfinished_tasks:
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.02)
        return True

    def _ensure_worker(self) -> None:
        with self._start_lock:
            if self._worker is None or not self._worker.is_alive():
                self._worker = threading.Thread(
                    target=self._run, name=f"emf-shipper-{self.log_group}", daemon=True
                )
                self._worker.start()

    def _run(self) -> None:
        while True:
            batch = [self._queue.get()]
            deadline = time.monotonic() + self.BATCH_WINDOW_S
            while len(batch) < self.MAX_BATCH and (left := deadline - time.monotonic()) > 0:
                try:
                    batch.append(self._queue.get(timeout=left))
                except queue.Empty:
                    break
            try:
                self._send(sorted(batch, key=lambda event: event["timestamp"]))
            except Exception:
                log.warning("could not ship metrics to %s", self.log_group, exc_info=True)
            finally:
                for _ in batch:
                    self._queue.task_done()

    def _send(self, events: list[dict[str, Any]]) -> None:
        self._ensure_stream()
        self._client.put_log_events(
            logGroupName=self.log_group, logStreamName=self.log_stream, logEvents=events
        )

    def _ensure_stream(self) -> None:
        if self._ready:
            return
        exists = self._client.exceptions.ResourceAlreadyExistsException
        with contextlib.suppress(exists):
            self._client.create_log_group(logGroupName=self.log_group)
        with contextlib.suppress(exists):
            self._client.create_log_stream(
                logGroupName=self.log_group, logStreamName=self.log_stream
            )
        self._ready = True


class ShippingEMFProvider(AmazonCloudWatchEMFProvider):
    """Powertools' EMF provider that also hands each flushed document to a shipper.

    ``to_stdout=False`` keeps documents off stdout (they are still shipped): for a process whose
    stdout is a person's terminal, like the demo.
    """

    def __init__(
        self,
        *,
        namespace: str,
        service: str,
        shipper: LogGroupShipper | None,
        to_stdout: bool = True,
    ) -> None:
        super().__init__(namespace=namespace, service=service)
        self._shipper = shipper
        self._to_stdout = to_stdout

    def flush_metrics(self, raise_on_empty_metrics: bool = False) -> None:
        if not self.metric_set or is_metrics_disabled():
            super().flush_metrics(raise_on_empty_metrics=raise_on_empty_metrics)
            return
        document = self.serialize_metric_set()  # once: printed and shipped alike
        if self._to_stdout:
            print(json.dumps(document, separators=(",", ":")))
        if self._shipper is not None:
            self._shipper.ship(dict(document))
        self.clear_metrics()


_shippers: dict[str, LogGroupShipper] = {}
_shippers_lock = threading.Lock()


def _shipper(service: str, log_group: str | None) -> LogGroupShipper | None:
    if log_group is None:
        return None
    with _shippers_lock:
        shipper = _shippers.get(service)
        if shipper is None or shipper.log_group != log_group:
            stream = f"{service}/{socket.gethostname()}-{os.getpid()}"
            shipper = LogGroupShipper(log_group, stream, aws_client("logs", K2Settings()))
            _shippers[service] = shipper
        return shipper


def flush_shipped_metrics(timeout_s: float = 10.0) -> bool:
    """Send every queued document of this process now; False if some are still queued."""
    with _shippers_lock:
        shippers = list(_shippers.values())
    return all(shipper.flush(timeout_s) for shipper in shippers)


atexit.register(flush_shipped_metrics, 5.0)


@functools.lru_cache(maxsize=8)
def _metrics_settings(_log_group: str | None, _stdout: str | None) -> MetricsSettings:
    """Parsed once per distinct value of the two variables: building the settings costs about
    0.4 ms, too much for every API request, and the variables can still change (tests do)."""
    return MetricsSettings()


def emf_metrics(
    service: str, *, to_stdout: bool | None = None, **default_dimensions: str
) -> ShippingEMFProvider:
    """A metric set of its own in namespace ``K2``, dimensioned by ``service`` and any defaults;
    ``to_stdout=False`` only ships (when a log group is configured); None: ``K2_METRICS_STDOUT``."""
    settings = _metrics_settings(
        os.environ.get("K2_METRICS_LOG_GROUP"), os.environ.get("K2_METRICS_STDOUT")
    )
    metrics = ShippingEMFProvider(
        namespace=NAMESPACE,
        service=service,
        shipper=_shipper(service, settings.log_group),
        to_stdout=settings.stdout if to_stdout is None else to_stdout,
    )
    if default_dimensions:
        metrics.set_default_dimensions(**default_dimensions)
    return metrics
