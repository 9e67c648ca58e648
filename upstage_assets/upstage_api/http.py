"""The one HTTP transport every Upstage call goes through: pooling, auth, limits, retries.

Retries follow the contract (section 7): 429, 5xx, timeouts and dropped connections are
retried with exponential backoff and full jitter (honouring ``Retry-After`` when the server
sends one), within a bounded number of attempts and a bounded total time; every other 4xx
raises its specific ``UpstageError`` at once. A 2xx whose body does not decode or does not
follow the contract (``request_json`` with a ``decode`` check) is retried the same way: a
gateway that cuts or garbles an answer is as transient as a 502. Every attempt passes through the shared rate
limiter, so retries count against the account's allowance like any other request.
"""

from __future__ import annotations

import asyncio
import contextvars
import email.utils
import logging
import random
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from upstage_assets.redaction import redact
from upstage_assets.upstage_api.circuit import CircuitBreaker
from upstage_assets.upstage_api.connection_pools import ConnectionPools
from upstage_assets.upstage_api.errors import (
    UpstageDownloadExpired,
    UpstageError,
    UpstageProtocolError,
    UpstageRateLimited,
    UpstageServerError,
    UpstageUnreachable,
    error_for_response,
)
from upstage_assets.upstage_api.rate_limit_headers import RateLimitHeaders
from upstage_assets.upstage_api.rate_limiter import RateLimiter, SendTicket

logger = logging.getLogger("upstage_assets.upstage_http")

RETRYABLE_STATUS = frozenset({429, 500, 502, 503, 504})
TRANSPORT_ERRORS = (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError)
#: Nothing answered at all (refused, unknown host, connect timeout): the address is wrong or down.
CONNECT_ERRORS = (httpx.ConnectError, httpx.ConnectTimeout)
BASE_URL_SETTING = "UPSTAGE_API_BASE_URL"
#: The request was sent and the answer lost: the server may have processed (and billed) it.
ANSWER_LOST_ERRORS = (httpx.ReadTimeout, httpx.ReadError, httpx.RemoteProtocolError)
#: Which document a request is for (set per document task by the parser; tasks copy it).
CURRENT_DOCUMENT: contextvars.ContextVar[str | None] = contextvars.ContextVar("upstage_document", default=None)


@dataclass(frozen=True)
class RetryPolicy:
    """Bounded retries: at most ``max_attempts`` tries and ``max_total_s`` seconds per call."""

    max_attempts: int = 6
    base_delay_s: float = 0.5
    max_delay_s: float = 30.0
    max_total_s: float = 300.0
    max_retry_after_s: float = 120.0

    def delay(self, attempt: int, retry_after: float | None, rng: random.Random) -> float:
        """Seconds before attempt ``attempt + 1``: Retry-After if given, else full jitter."""
        if retry_after is not None:
            return max(0.0, min(retry_after, self.max_retry_after_s))
        ceiling = min(self.max_delay_s, self.base_delay_s * (2 ** (attempt - 1)))
        return rng.uniform(0.0, ceiling)


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """``Retry-After`` as seconds (delta-seconds or HTTP-date); ``None`` when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (now if now is not None else time.time()))


def admit_on_the_wire(limiter: RateLimiter, ticket: SendTicket) -> Callable[[str, dict[str, Any]], Awaitable[None]]:
    """An httpcore trace hook: the limiter's send log admits the request as its headers start out,
    and dates it again once they are written."""
    async def trace(event: str, info: dict[str, Any]) -> None:
        if event.endswith("send_request_headers.started"):
            await limiter.admit(ticket)
        elif event.endswith("send_request_headers.complete"):
            await limiter.mark_sent(ticket)
    return trace


@dataclass
class TransportStats:
    """What this process sent: for run metadata and the overhead benchmark."""

    attempts: int = 0
    retries: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    # (document id, endpoint) -> pages of requests sent again after their answer was lost
    answer_lost_pages: Counter[tuple[str, str]] = field(default_factory=Counter)


class UpstageHttp:
    """Async HTTP to one Upstage base URL. Safe to share between tasks on one event loop."""

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        timeout: httpx.Timeout | None = None,
        retry: RetryPolicy | None = None,
        limiter: RateLimiter | None = None,
        max_connections: int = 20,
        rng: random.Random | None = None,
        breaker: CircuitBreaker | None = None,
        rate_limit_headers: RateLimitHeaders | None = None,
    ):
        self.base_url = base_url.rstrip("/")
        self._api_key = api_key
        self.timeout = timeout or httpx.Timeout(connect=10.0, read=300.0, write=60.0, pool=60.0)
        self.retry = retry or RetryPolicy()
        self.limiter = limiter
        self._pools = ConnectionPools(max_connections, self.timeout, {"User-Agent": "upstage-assets/0.1"})
        self.rng = rng or random.Random()
        self.breaker = breaker
        self.stats = TransportStats()
        self.rate_limit_headers = rate_limit_headers or RateLimitHeaders()  # what the API says of its limits

    def __repr__(self) -> str:
        return f"UpstageHttp(base_url={self.base_url!r}, api_key='[REDACTED]')"

    async def aclose(self) -> None:
        await self._pools.aclose()

    async def request(
        self,
        method: str,
        path: str,
        *,
        endpoint: str,
        pages: int = 0,
        json: Any = None,
        data: dict[str, Any] | None = None,
        files: dict[str, Any] | None = None,
        params: dict[str, Any] | None = None,
    ) -> httpx.Response:
        """Send an authenticated request with retries; return the 2xx response or raise ``UpstageError``."""
        url = f"{self.base_url}{path}"
        headers = {"Authorization": f"Bearer {self._api_key}"}
        response, _ = await self._send_with_retries(
            method, url, path, endpoint=endpoint, pages=pages, headers=headers,
            json=json, data=data, files=files, params=params, expired_on=())
        return response

    async def request_json(
        self,
        method: str,
        path: str,
        *,
        endpoint: str,
        decode: Callable[[Any], Any] | None = None,
        pages: int = 0,
        json: Any = None,
        data: dict[str, Any] | None = None,
        files: dict[str, Any] | None = None,
        params: dict[str, Any] | None = None,
    ) -> Any:
        """Like ``request``, returning the decoded body; a 2xx body that is not JSON, or that
        ``decode`` refuses with ``UpstageProtocolError``, is retried like a 5xx (bounded)."""
        url = f"{self.base_url}{path}"
        headers = {"Authorization": f"Bearer {self._api_key}"}

        def check(response: httpx.Response) -> Any:
            body = self.decode_json(response, path)
            return decode(body) if decode is not None else body

        _, body = await self._send_with_retries(
            method, url, path, endpoint=endpoint, pages=pages, headers=headers,
            json=json, data=data, files=files, params=params, expired_on=(), check=check)
        return body

    async def get_json(self, path: str, *, endpoint: str, params: dict[str, Any] | None = None,
                       decode: Callable[[Any], Any] | None = None) -> Any:
        return await self.request_json("GET", path, endpoint=endpoint, params=params, decode=decode)

    async def download(self, url: str) -> bytes:
        """GET a pre-signed URL without auth; 403/404 raise ``UpstageDownloadExpired``."""
        response, _ = await self._send_with_retries(
            "GET", url, "download_url", endpoint="download", pages=0, headers={},
            json=None, data=None, files=None, params=None, expired_on=(403, 404))
        return response.content

    async def download_json(self, url: str, decode: Callable[[Any], Any]) -> Any:
        """``download`` of a JSON result; a body that is cut, not JSON or refused by ``decode`` is fetched again."""
        _, body = await self._send_with_retries(
            "GET", url, "download_url", endpoint="download", pages=0, headers={},
            json=None, data=None, files=None, params=None, expired_on=(403, 404),
            check=lambda response: decode(self.decode_json(response, "download_url")))
        return body

    def decode_json(self, response: httpx.Response, path: str) -> Any:
        try:
            return response.json()
        except ValueError as exc:
            raise UpstageProtocolError(f"Upstage {path} answered {response.status_code} with a body that is "
                                       "not JSON", status=response.status_code, path=path) from exc

    async def _send_with_retries(
        self, method: str, url: str, path: str, *, endpoint: str, pages: int, headers: dict[str, str],
        json: Any, data: dict[str, Any] | None, files: dict[str, Any] | None,
        params: dict[str, Any] | None, expired_on: tuple[int, ...],
        check: Callable[[httpx.Response], Any] | None = None,
    ) -> tuple[httpx.Response, Any]:
        """The 2xx response and what ``check`` made of it; ``check`` refusing the body means retry."""
        started = time.monotonic()
        attempt = 0
        breaker = self.breaker if endpoint != "download" else None

        def queued(seconds: float) -> None:
            """Waiting for our own rate limiter is not retry time: behind a deep queue (10,000 calls
            at once) a request's budget would run out before its first retry."""
            nonlocal started
            started += seconds
        try:
            while True:
                attempt += 1
                retry_after: float | None = None
                failure: str
                status = 0
                malformed: UpstageProtocolError | None = None
                unreachable = False
                if breaker is not None:
                    started += await breaker.before(endpoint)  # an outage's pause is not this request's retry time
                try:
                    response = await self._send_once(method, url, endpoint, pages, headers, json, data, files, params,
                                                     queued)
                except TRANSPORT_ERRORS as exc:
                    failure = f"{type(exc).__name__}"
                    unreachable = isinstance(exc, CONNECT_ERRORS)
                    if isinstance(exc, ANSWER_LOST_ERRORS):
                        self._answer_lost(endpoint, pages)
                else:
                    status = response.status_code
                    self.stats.statuses[status] += 1
                    self.rate_limit_headers.record(endpoint, response.headers)
                    if breaker is not None and status not in RETRYABLE_STATUS:
                        breaker.record_success(endpoint)  # the endpoint answers (a 4xx is about this request)
                    if status < 300:
                        if check is None:
                            return response, None
                        try:
                            return response, check(response)
                        except UpstageProtocolError as exc:
                            malformed = exc
                            failure = f"HTTP {status} with a malformed body"
                            self._answer_lost(endpoint, pages)  # computed, maybe billed, and unusable
                    elif status in expired_on:
                        raise UpstageDownloadExpired(f"download URL answered HTTP {status} (expired)",
                                                     status=status, path=path)
                    elif status not in RETRYABLE_STATUS:
                        raise error_for_response(status, path, response.content, self._api_key)
                    else:
                        retry_after = parse_retry_after(response.headers.get("retry-after"))
                        failure = f"HTTP {status}"
                # A malformed 2xx body is about this answer, not an endpoint that is down: no breaker count.
                if (breaker is not None and status != 429 and malformed is None
                        and breaker.record_failure(endpoint, failure)):
                    attempt -= 1  # the endpoint is down for everyone: wait for it, keep this request's attempts
                    continue
                delay = self.retry.delay(attempt, retry_after, self.rng)
                elapsed = time.monotonic() - started
                if attempt >= self.retry.max_attempts or elapsed + delay > self.retry.max_total_s:
                    if malformed is not None:
                        raise UpstageProtocolError(
                            redact(f"{malformed.message} (still, after {attempt} attempts in {elapsed:.1f} s)",
                                   self._api_key), status=status, path=path) from malformed
                    if unreachable:
                        raise self._unreachable(url, path, failure, attempt, elapsed)
                    raise self._exhausted(path, status, failure, attempt, elapsed)
                self.stats.retries += 1
                logger.warning("Upstage %s %s failed (%s), attempt %d/%d; retrying in %.2f s",
                               method, path, failure, attempt, self.retry.max_attempts, delay)
                await asyncio.sleep(delay)
        finally:  # a probe that settled nothing hands the probing on (circuit.py)
            if breaker is not None:
                breaker.release_probe(endpoint)

    def _answer_lost(self, endpoint: str, pages: int) -> None:
        """Pages of a billed request whose answer was lost or unusable: sending it again may bill them twice."""
        if pages and endpoint not in ("poll", "download"):
            self.stats.answer_lost_pages[(CURRENT_DOCUMENT.get() or "", endpoint)] += pages

    async def _send_once(
        self, method: str, url: str, endpoint: str, pages: int, headers: dict[str, str],
        json: Any, data: dict[str, Any] | None, files: dict[str, Any] | None, params: dict[str, Any] | None,
        queued: Callable[[float], None],
    ) -> httpx.Response:
        self.stats.attempts += 1
        if self.limiter is None or endpoint == "download":
            return await self._pools.send(self._pools.build_request(
                method, url, headers=headers, json=json, data=data, files=files, params=params))
        asked = time.monotonic()
        async with self.limiter.in_flight(endpoint):
            # Encoded before the rate slot, so the slot is spent on sending; inside the in-flight
            # slot, so a batch of 1,000 does not encode every document before its first send.
            request = self._pools.build_request(method, url, headers=headers, json=json, data=data, files=files,
                                                params=params)
            async with self.limiter.rate_slot(endpoint, pages) as ticket:
                queued(time.monotonic() - asked)
                if ticket is not None:
                    request.extensions["trace"] = admit_on_the_wire(self.limiter, ticket)
                return await self._pools.send(request)

    def _unreachable(self, url: str, path: str, failure: str, attempts: int, elapsed: float) -> UpstageError:
        target = self.base_url if url.startswith(self.base_url) else "the download URL"
        setting = f"; check {BASE_URL_SETTING}" if target == self.base_url else ""
        message = redact(f"cannot connect to {target} ({failure} on {attempts} attempts in {elapsed:.1f} s)"
                         f"{setting}", self._api_key)
        return UpstageUnreachable(message, status=0, path=path)

    def _exhausted(self, path: str, status: int, failure: str, attempts: int, elapsed: float) -> UpstageError:
        message = redact(f"Upstage {path} still failing after {attempts} attempts in {elapsed:.1f} s "
                         f"(last: {failure})", self._api_key)
        if status == 429:
            return UpstageRateLimited(message, status=status, path=path)
        return UpstageServerError(message, status=status, path=path)
