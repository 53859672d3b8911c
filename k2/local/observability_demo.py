"""The demo's SQL and metrics steps: what they read from the local cloud.

The SQL step runs a named query as the local cloud saved it (the same definitions the Analytics
stack saves in AWS), so the demo also shows that provisioning. The metrics step measures
freshness, makes sure every metric the demo produced has reached the local CloudWatch, and reads
the alarms' states its evaluator left.
"""

from __future__ import annotations

import time
from typing import Any

from k2.jobs.freshness import check_freshness
from k2.local.errors import LocalCloudError
from k2.local.gateway_metrics import FLUSH_INTERVAL_S
from k2.local.monitoring_provisioning import local_alarms
from k2.observability.emf import flush_shipped_metrics
from k2.settings import K2Settings

DEMO_NAMED_QUERY = "daily-vwap-by-symbol"
REASON_CHARS = 90
"""An alarm's reason is cut to this many characters in the demo's table."""


def saved_named_query(athena: Any, work_group: str, name: str) -> str:
    """The SQL of the named query called ``name`` in ``work_group``."""
    ids = [
        named_id
        for page in athena.get_paginator("list_named_queries").paginate(WorkGroup=work_group)
        for named_id in page.get("NamedQueryIds", [])
    ]
    for start in range(0, len(ids), 50):
        batch = athena.batch_get_named_query(NamedQueryIds=ids[start : start + 50])
        for named in batch["NamedQueries"]:
            if named["Name"] == name:
                return str(named["QueryString"])
    raise LocalCloudError(
        f"work group {work_group} has no named query {name!r}; `k2 local up` provisions it"
    )


def measure_freshness(settings: K2Settings) -> dict[str, float]:
    """Emit GoldTradeAge now, send every queued metric of this process, and give the local
    gateway one publishing interval to send the API calls' AWS/* metrics."""
    ages = check_freshness(settings)
    flush_shipped_metrics()
    time.sleep(FLUSH_INTERVAL_S + 1.0)
    return {exchange.value: age for exchange, age in ages.items()}


def alarm_states(cloudwatch: Any, settings: K2Settings) -> list[tuple[str, str, str]]:
    """(name, state, reason) of every platform alarm, in definition order."""
    names = [name for name, _ in local_alarms(settings)]
    found = {
        alarm["AlarmName"]: alarm
        for alarm in cloudwatch.describe_alarms(AlarmNames=names)["MetricAlarms"]
    }
    states = []
    for name in names:
        alarm = found.get(name)
        if alarm is None:
            states.append((name, "MISSING", "not provisioned; `k2 local up` puts the alarms"))
            continue
        reason = str(alarm.get("StateReason", ""))
        if len(reason) > REASON_CHARS:
            reason = reason[: REASON_CHARS - 1] + "…"
        states.append((name, str(alarm["StateValue"]), reason))
    return states
