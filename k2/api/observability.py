"""Logs, metrics and traces through aws-lambda-powertools, one place for the API's names.

Logs are JSON lines (CloudWatch Logs Insights can query them); metrics are CloudWatch Embedded
Metric Format lines written per request (no API call, no shared buffer between concurrent
requests); tracing is X-Ray, active only inside Lambda. What an endpoint learns while serving
(rows returned and scanned, files scanned, the error code) goes into the request's
:class:`RequestFacts`.
"""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass

from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.metrics import EphemeralMetrics, MetricUnit

from k2.query.requests import Page

SERVICE = "k2-api"
NAMESPACE = "K2"

logger = Logger(service=SERVICE)
tracer = Tracer(service=SERVICE)


@dataclass
class RequestFacts:
    route: str = "unmatched"
    rows: int = 0
    rows_scanned: int = 0
    files_scanned: int = 0
    error_code: str | None = None


_facts: ContextVar[RequestFacts | None] = ContextVar("k2_request_facts", default=None)


def start_request() -> RequestFacts:
    facts = RequestFacts()
    _facts.set(facts)
    return facts


def _current() -> RequestFacts:
    facts = _facts.get()
    return facts if facts is not None else RequestFacts()


def record_read(rows: int, files_scanned: int, rows_scanned: int) -> None:
    """``rows`` returned, after reading ``rows_scanned`` rows from ``files_scanned`` files."""
    facts = _current()
    facts.rows += rows
    facts.rows_scanned += rows_scanned
    facts.files_scanned += files_scanned


def record_page(page: Page) -> None:
    record_read(len(page.rows), page.files_scanned, page.rows_scanned)


def record_error(code: str) -> None:
    _current().error_code = code


def emit_request_metrics(facts: RequestFacts, status: int, latency_ms: float) -> None:
    """One EMF document: latency, rows and files per route; errors counted by code."""
    metrics = EphemeralMetrics(namespace=NAMESPACE, service=SERVICE)
    metrics.add_dimension(name="route", value=facts.route)
    metrics.add_metric(name="Latency", unit=MetricUnit.Milliseconds, value=latency_ms)
    metrics.add_metric(name="Requests", unit=MetricUnit.Count, value=1)
    metrics.add_metric(name="RowsReturned", unit=MetricUnit.Count, value=facts.rows)
    metrics.add_metric(name="RowsScanned", unit=MetricUnit.Count, value=facts.rows_scanned)
    metrics.add_metric(name="FilesScanned", unit=MetricUnit.Count, value=facts.files_scanned)
    metrics.flush_metrics()
    if facts.error_code is not None:
        errors = EphemeralMetrics(namespace=NAMESPACE, service=SERVICE)
        errors.add_dimension(name="code", value=facts.error_code)
        errors.add_dimension(name="status", value=str(status))
        errors.add_metric(name="Errors", unit=MetricUnit.Count, value=1)
        errors.flush_metrics()
