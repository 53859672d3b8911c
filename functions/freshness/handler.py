"""The freshness check's Lambda entry point, started every minute by EventBridge Scheduler.

Measures ``GoldTradeAge`` per exchange (``k2.jobs.freshness``) and prints it as EMF to stdout,
which CloudWatch Logs turns into the metric the freshness alarms read: no PutMetricData.
Environment: the lake's ``K2_*`` settings and ``K2_FRESHNESS_EXCHANGES`` (a JSON list).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from k2.jobs import freshness

# The runtime's root handler passes WARNING and up; the check's INFO lines (files read, ages)
# are what its log is for.
logging.getLogger("k2").setLevel(logging.INFO)


def handler(event: Mapping[str, Any], context: object) -> dict[str, float]:
    return freshness.handler(event, context)
