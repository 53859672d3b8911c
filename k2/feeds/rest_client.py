"""What the two REST backfill clients share: why a request failed, the one HTTP GET (with
retries), and the client settings (:class:`PagedRestClient`).

A gap in a trade stream is filled from the exchange's REST API. When that API cannot answer (a
refused connection, a timeout, HTTP 429/5xx, an IP ban) the gap is not lost: the caller keeps the
missing ids and tries again later. So every transport failure surfaces as one typed error,
:class:`BackfillError`, that says which URL failed, how, and whether waiting may help.

Transient failures are first retried here a few times, with short jittered exponential backoff,
honouring ``Retry-After`` (Binance sends it with 429 and 418; RFC 9110 allows it on 503). A wait
longer than :attr:`RetryPolicy.max_retry_after` is not slept through inside one fetch: the error
is raised at once with ``retry_after`` set, for the caller's scheduler. HTTP 418 (Binance's IP
ban, 2 minutes to 3 days) is never retried here.

Standard library only (``urllib.request`` run in a worker thread), so the feed handler needs no
HTTP client dependency.
"""

from __future__ import annotations

import asyncio
import http.client
import random
import urllib.error
import urllib.request
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import ClassVar

USER_AGENT = "k2-backfill/1"

# 429 rate limited, 5xx the exchange's side: worth another try. 418 is a ban: not here.
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
BAN_STATUS = 418

Sleep = Callable[[float], Awaitable[None]]
BodyCheck = Callable[[bytes], str | None]


class BackfillError(Exception):
    """A REST request for backfill failed; the caller should record the gap and retry later.

    ``status`` is the HTTP status, or ``None`` when no response arrived (refused, reset,
    timeout). ``transient`` says whether the same request may succeed later (rate limits, bans
    and server errors) or will fail again as sent (e.g. 400 for an unknown symbol).
    ``retry_after`` is the exchange's requested wait in seconds, if it sent one.
    """

    def __init__(
        self,
        url: str,
        reason: str,
        *,
        status: int | None = None,
        transient: bool = True,
        retry_after: float | None = None,
        attempts: int = 1,
    ) -> None:
        where = f"HTTP {status}" if status is not None else "no response"
        super().__init__(f"backfill request failed ({where}) after {attempts} attempt(s): {url}")
        self.url = url
        self.reason = reason
        self.status = status
        self.transient = transient
        self.retry_after = retry_after
        self.attempts = attempts

    def __str__(self) -> str:
        return f"{self.args[0]}: {self.reason}"


@dataclass(frozen=True)
class RetryPolicy:
    """How hard one fetch tries before giving the failure to the caller.

    ``attempts`` counts the first try. The n-th retry waits ``base_delay * 2**(n-1)`` seconds,
    capped at ``max_delay``, times a random factor in [0.5, 1] (jitter, so that several feed
    handlers do not retry in step); a ``Retry-After`` from the exchange replaces that delay.
    """

    attempts: int = 4
    base_delay: float = 0.25
    max_delay: float = 5.0
    max_retry_after: float = 30.0

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError("attempts must be >= 1")
        if min(self.base_delay, self.max_delay, self.max_retry_after) < 0:
            raise ValueError("delays must be >= 0")

    def backoff(self, retry: int, rng: random.Random) -> float:
        """The jittered delay before retry number ``retry`` (1-based)."""
        ceiling = min(self.max_delay, self.base_delay * 2.0 ** (retry - 1))
        return ceiling * rng.uniform(0.5, 1.0)


@dataclass(frozen=True)
class _Answer:
    """What one attempt got: a status and body, or (``status`` None) why nothing came back."""

    status: int | None
    body: bytes
    retry_after: float | None
    reason: str
    usable_url: bool = True


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """``Retry-After`` as seconds: delta-seconds or an HTTP date (RFC 9110 §10.2.3)."""
    if value is None:
        return None
    text = value.strip()
    if text.isdigit():
        return float(text)
    try:
        moment = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return max(0.0, (moment - (now or datetime.now(UTC))).total_seconds())


def _get(url: str, headers: Mapping[str, str], timeout: float) -> _Answer:
    """One blocking GET; every outcome becomes an :class:`_Answer`, never an exception."""
    try:
        # The URL comes from configuration (an exchange's REST base), never from a message.
        request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT, **headers})  # noqa: S310
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            return _Answer(response.status, response.read(), None, "ok")
    except urllib.error.HTTPError as error:
        with error:
            body = error.read()
        retry_after = parse_retry_after(error.headers.get("Retry-After") if error.headers else None)
        text = body[:300].decode("utf-8", "replace")
        return _Answer(error.code, body, retry_after, f"{error.reason}: {text}".strip())
    except (OSError, http.client.HTTPException) as error:
        # URLError (refused, DNS), ConnectionResetError, TimeoutError (OSError) and a cut-off or
        # garbled answer (IncompleteRead, BadStatusLine): no usable response, try again...
        reason = getattr(error, "reason", error)
        if isinstance(reason, str) and reason.startswith("unknown url type"):
            # ...except for a scheme urllib cannot speak: that request can never work.
            return _Answer(None, b"", None, f"invalid URL: {reason}", usable_url=False)
        return _Answer(None, b"", None, f"{type(error).__name__}: {reason}")
    except ValueError as error:  # no scheme, bad port...: the same request can never work
        return _Answer(None, b"", None, f"invalid URL: {error}", usable_url=False)


async def get_with_retries(
    url: str,
    *,
    headers: Mapping[str, str],
    timeout: float,
    policy: RetryPolicy,
    sleep: Sleep = asyncio.sleep,
    transient_body: BodyCheck | None = None,
    rng: random.Random | None = None,
) -> bytes:
    """GET ``url`` and return the body of a 2xx answer; raise :class:`BackfillError` otherwise.

    ``transient_body`` lets an exchange that reports rate limits inside a 200 body (Kraken's
    ``EGeneral:Too many requests``) mark that body as retryable: it returns a reason or ``None``.
    """
    jitter = rng or random.Random()  # noqa: S311 - jitter, not security
    for attempt in range(1, policy.attempts + 1):
        answer = await asyncio.to_thread(_get, url, headers, timeout)
        if answer.status is not None and 200 <= answer.status < 300:
            busy = transient_body(answer.body) if transient_body is not None else None
            if busy is None:
                return answer.body
            answer = _Answer(answer.status, answer.body, None, busy)
        elif not answer.usable_url:
            raise BackfillError(url, answer.reason, transient=False, attempts=attempt)
        elif answer.status is not None and answer.status not in RETRY_STATUSES:
            raise BackfillError(
                url,
                answer.reason,
                status=answer.status,
                transient=answer.status == BAN_STATUS,
                retry_after=answer.retry_after,
                attempts=attempt,
            )
        wait = answer.retry_after
        if attempt == policy.attempts or (wait is not None and wait > policy.max_retry_after):
            raise BackfillError(
                url,
                answer.reason,
                status=answer.status,
                retry_after=wait,
                attempts=attempt,
            )
        await sleep(wait if wait is not None else policy.backoff(attempt, jitter))
    raise AssertionError("unreachable")  # pragma: no cover - the loop returns or raises


class PagedRestClient:
    """The settings both trade backfill clients share, checked once, and their GET.

    ``rest_url`` is the exchange's REST base (a trailing ``/`` is dropped); each request asks for
    ``page_size`` rows, at most the subclass's ``max_page_size``; ``timeout`` bounds each attempt
    and ``retry`` is the :class:`RetryPolicy` of each request; ``request_interval`` seconds
    separate the page requests of one fetch; ``sleep`` waits (backoff and spacing), replaceable
    in tests.
    """

    max_page_size: ClassVar[int]  # the most rows the exchange returns per request

    def __init__(
        self,
        rest_url: str,
        timeout: float,
        page_size: int,
        retry: RetryPolicy | None,
        request_interval: float,
        sleep: Sleep,
    ) -> None:
        if not 1 <= page_size <= self.max_page_size:
            raise ValueError(f"page_size must be within 1..{self.max_page_size}")
        if timeout <= 0 or request_interval < 0:
            raise ValueError("timeout must be > 0 and request_interval >= 0")
        self.rest_url = rest_url.rstrip("/")
        self.page_size = page_size
        self.timeout = timeout
        self.retry = retry or RetryPolicy()
        self.request_interval = request_interval
        self._sleep = sleep

    async def _get(
        self, url: str, headers: Mapping[str, str], *, transient_body: BodyCheck | None = None
    ) -> bytes:
        """:func:`get_with_retries` with this client's timeout, retry policy and sleep."""
        return await get_with_retries(
            url,
            headers=headers,
            timeout=self.timeout,
            policy=self.retry,
            sleep=self._sleep,
            transient_body=transient_body,
        )
