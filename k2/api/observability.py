"""Logs, metrics and traces through aws-lambda-powertools, one place for the API's names.

Logs are JSON lines (CloudWatch Logs Insights can query them); metrics are CloudWatch Embedded
Metric Format lines written per request (:func:`k2.observability.emf.emf_metrics`: no API call in
AWS, and a metric set per document, so concurrent requests never share one); tracing is X-Ray,
active only inside Lambda. What an endpoint learns while serving
(rows returned and scanned, files scanned, the error code) goes into the request's
:class:`RequestFacts`.
"""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass

from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.metrics import MetricUnit

from k2.observability.emf import NAMESPACE, emf_metrics
from k2.query.requests import Page

SERVICE = "k2-api"

__all__ = ["NAMESPACE", "SERVICE", "RequestFacts", "emit_request_metrics", "logger", "tracer"]

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
    """One EMF document per dimension set: latency, rows and files per route; an error is
    counted once by code and status and once by route and status."""
    metrics = emf_metrics(SERVICE, route=facts.route)
    metrics.add_metric(name="Latency", unit=MetricUnit.Milliseconds, value=latency_ms)
    metrics.add_metric(name="Requests", unit=MetricUnit.Count, value=1)
    metrics.add_metric(name="RowsReturned", unit=MetricUnit.Count, value=facts.rows)
    metrics.add_metric(name="RowsScanned", unit=MetricUnit.Count, value=facts.rows_scanned)
    metrics.add_metric(name="FilesScanned", unit=MetricUnit.Count, value=facts.files_scanned)
    metrics.flush_metrics()
    if facts.error_code is None:
        return
    by_code = emf_metrics(SERVICE, code=facts.error_code, status=str(status))
    by_code.add_metric(name="Errors", unit=MetricUnit.Count, value=1)
    by_code.flush_metrics()
    by_route = emf_metrics(SERVICE, route=facts.route, status=str(status))
    by_route.add_metric(name="ErrorsByRoute", unit=MetricUnit.Count, value=1)
    by_route.flush_metrics()
