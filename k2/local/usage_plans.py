"""API keys and usage plans, decided as API Gateway decides them: a token bucket per key for the
plan's throttle, and a request count per key per UTC day, week or month for its quota.

Pure logic with an injectable clock, so the limits can be proven with a fake clock; the gateway
shares one ``UsagePlans`` between its request threads, so every decision takes a lock.
"""

from __future__ import annotations

import json
import math
import os
import secrets
import string
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from k2.local.errors import LocalCloudError

Clock = Callable[[], float]
"""Seconds since the epoch (UTC), like ``time.time``."""

DEMO_KEY_NAME = "local-demo"
DEFAULT_PLAN = "default"


class QuotaPeriod(StrEnum):
    DAY = "DAY"
    WEEK = "WEEK"  # from Sunday 00:00 UTC, as AWS's default (offset 0) week
    MONTH = "MONTH"


class Quota(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    limit: int = Field(gt=0, description="Requests per period.")
    period: QuotaPeriod


class Plan(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    rate_limit: float = Field(gt=0, description="Steady-state requests per second.")
    burst_limit: int = Field(gt=0, description="Token bucket size: requests in one burst.")
    quota: Quota | None = None


class ApiKey(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(min_length=1)
    name: str = Field(min_length=1)
    value: str = Field(
        min_length=20,
        pattern=r"^[^,\s]+$",
        description="At least 20 characters (as API Gateway requires), no comma or space: the "
        "handler gets the values comma-separated in K2_API_KEYS.",
    )
    plan: str


class UsagePlansConfig(BaseModel):
    """The usage-plans file: ``{"keys": [...], "plans": {name: plan}}``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    keys: list[ApiKey]
    plans: dict[str, Plan]

    @model_validator(mode="after")
    def _consistent(self) -> UsagePlansConfig:
        for field in ("id", "value"):
            seen = [getattr(key, field) for key in self.keys]
            if len(seen) != len(set(seen)):
                raise ValueError(f"two keys share an {field}")
        for key in self.keys:
            if key.plan not in self.plans:
                raise ValueError(f"key {key.name!r} names plan {key.plan!r}, which is not in plans")
        return self


class UsagePlansError(LocalCloudError):
    """The usage-plans file is missing or invalid; the message names the file and the field."""


def load_usage_plans(path: Path) -> UsagePlansConfig:
    try:
        text = path.read_text()
    except OSError as error:
        raise UsagePlansError(f"{path}: cannot read the usage plans: {error.strerror}") from None
    try:
        return UsagePlansConfig.model_validate(json.loads(text))
    except json.JSONDecodeError as error:
        raise UsagePlansError(
            f"{path}: not JSON (line {error.lineno}, column {error.colno}): {error.msg}"
        ) from None
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in problem['loc']) or '(top level)'}: {problem['msg']}"
            for problem in error.errors()
        )
        raise UsagePlansError(f"{path}: invalid usage plans: {problems}") from None


def create_demo_usage_plans(path: Path) -> bool:
    """Write a file with one random demo key on the default plan, readable by its owner only.
    Never overwrites: returns False if the file exists."""
    config = UsagePlansConfig(
        keys=[
            ApiKey(
                id="".join(
                    secrets.choice(string.ascii_lowercase + string.digits) for _ in range(10)
                ),
                name=DEMO_KEY_NAME,
                value=secrets.token_urlsafe(32),
                plan=DEFAULT_PLAN,
            )
        ],
        plans={
            DEFAULT_PLAN: Plan(
                rate_limit=50, burst_limit=100, quota=Quota(limit=1_000_000, period=QuotaPeriod.DAY)
            )
        },
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return False
    with os.fdopen(descriptor, "w") as file:
        file.write(config.model_dump_json(indent=2) + "\n")
    return True


# --- decisions ---------------------------------------------------------------------------------


class Outcome(StrEnum):
    ALLOWED = "allowed"
    THROTTLED = "throttled"
    QUOTA_EXCEEDED = "quota_exceeded"


@dataclass(frozen=True)
class Decision:
    outcome: Outcome
    retry_after_s: int | None = None
    """For a refusal: whole seconds until a request would be allowed (the Retry-After header)."""

    @property
    def allowed(self) -> bool:
        return self.outcome is Outcome.ALLOWED


@dataclass
class _Usage:
    """One key's state: its token bucket and its requests in the current quota period."""

    tokens: float
    refilled_at: float
    period_start: datetime | None = None
    requests_in_period: int = 0


class UsagePlans:
    """Which keys exist and whether each may make one more request now."""

    def __init__(self, config: UsagePlansConfig, clock: Clock = time.time) -> None:
        self._config = config
        self._clock = clock
        self._by_value = {key.value: key for key in config.keys}
        self._usage: dict[str, _Usage] = {}
        self._lock = threading.Lock()

    @property
    def keys(self) -> list[ApiKey]:
        return list(self._config.keys)

    def find_key(self, value: str | None) -> ApiKey | None:
        return None if value is None else self._by_value.get(value)

    def admit(self, key: ApiKey) -> Decision:
        """Decide one request under ``key``'s plan; an allowed request uses a token and counts
        towards the quota, a refused one uses neither."""
        plan = self._config.plans[key.plan]
        with self._lock:
            now = self._clock()
            usage = self._usage.setdefault(key.id, _Usage(float(plan.burst_limit), now))
            elapsed = max(0.0, now - usage.refilled_at)  # a wall clock may step back
            usage.tokens = min(float(plan.burst_limit), usage.tokens + elapsed * plan.rate_limit)
            usage.refilled_at = now
            if plan.quota is not None:
                start, end = period_bounds(plan.quota.period, now)
                if usage.period_start != start:
                    usage.period_start, usage.requests_in_period = start, 0
                if usage.requests_in_period >= plan.quota.limit:
                    wait = end.timestamp() - now
                    return Decision(Outcome.QUOTA_EXCEEDED, max(1, math.ceil(wait)))
            if usage.tokens < 1.0:
                wait = (1.0 - usage.tokens) / plan.rate_limit
                return Decision(Outcome.THROTTLED, max(1, math.ceil(wait)))
            usage.tokens -= 1.0
            usage.requests_in_period += 1
            return Decision(Outcome.ALLOWED)


def period_bounds(period: QuotaPeriod, now: float) -> tuple[datetime, datetime]:
    """The UTC quota period holding ``now``: [start, end)."""
    moment = datetime.fromtimestamp(now, UTC)
    day = moment.replace(hour=0, minute=0, second=0, microsecond=0)
    if period is QuotaPeriod.DAY:
        return day, day + timedelta(days=1)
    if period is QuotaPeriod.WEEK:
        start = day - timedelta(days=(day.weekday() + 1) % 7)  # back to Sunday
        return start, start + timedelta(days=7)
    start = day.replace(day=1)
    end = (
        start.replace(year=start.year + 1, month=1)
        if start.month == 12
        else start.replace(month=start.month + 1)
    )
    return start, end
