"""``UpstageClient``: the Dagster resource that talks to the Upstage API (or the emulator).

Configuration only; ``create_parser()`` builds the working object, an ``UpstageParser``
(the ``DocumentParser`` the assets call) wired to one pooled HTTP transport, the host-wide
rate limiter and spend budget (shared state store), and a usage ledger. The API key comes
from ``EnvVar("UPSTAGE_API_KEY")`` and is kept out of every repr, log and error.
"""

from __future__ import annotations

import hashlib
import logging
import uuid
from collections.abc import Callable
from typing import Any

import httpx
from dagster import ConfigurableResource
from pydantic import Field

from upstage_assets.schemas.classification import DocumentLabel
from upstage_assets.schemas.extraction import ExtractionSchema
from upstage_assets.storage.billing import CLASSIFICATION, EXTRACTION, PARSE
from upstage_assets.upstage_api.budget import SpendBudget
from upstage_assets.upstage_api.circuit import BreakerSettings, CircuitBreaker
from upstage_assets.upstage_api.classification import DocumentClassificationApi
from upstage_assets.upstage_api.document_parse import AsyncPollSettings, DocumentParseApi
from upstage_assets.upstage_api.errors import UpstageError
from upstage_assets.upstage_api.extraction import ExtractionOptions, InformationExtractionApi
from upstage_assets.upstage_api.http import CURRENT_DOCUMENT, RetryPolicy, UpstageHttp
from upstage_assets.upstage_api.parser import (
    ClassificationResult,
    DocumentParser,
    ExtractionResult,
    ParseOptions,
    SourceDocument,
)
from upstage_assets.upstage_api.rate_limit_headers import (
    DEFAULT_LIMIT_HEADER,
    DEFAULT_PREFIXES,
    RateLimitHeaders,
)
from upstage_assets.upstage_api.rate_limiter import (
    DEFAULT_HEADROOM,
    DEFAULT_MAX_SKEW_S,
    EndpointLimits,
    RateLimiter,
)
from upstage_assets.upstage_api.shared_state import SharedStateStore, open_state_store
from upstage_assets.upstage_api.usage import UsageLedger, pages_billed, price_key

logger = logging.getLogger("upstage_assets.upstage_client")
#: Which endpoints bill which product (``storage.billing``).
PRODUCT_ENDPOINTS = {PARSE: ("document-parse", "ocr", "document-parse-async"),
                     CLASSIFICATION: ("document-classification",),
                     EXTRACTION: ("information-extraction",)}


class UpstageClient(ConfigurableResource):  # type: ignore[type-arg]
    """Upstage Document Parse + Information Extraction over HTTP. Give the key as ``EnvVar``."""

    base_url: str = "https://api.upstage.ai"
    backend_label: str = Field(default="upstage", description="what lineage and the UI call this backend "
                               "(the catalog sets 'emulator' when it points the client at the emulator)")
    api_key: str = Field(repr=False, description='Use EnvVar("UPSTAGE_API_KEY"); never logged.')

    connect_timeout_s: float = 10.0
    read_timeout_s: float = 300.0
    max_connections: int = 20
    max_in_flight: int = 8

    breaker_threshold: int = Field(default=5, description="same failures in a row to one endpoint that pause it "
                                   "(a circuit breaker: the batch waits instead of spending every document's retries)")
    breaker_base_pause_s: float = 2.0
    breaker_max_pause_s: float = 60.0
    breaker_max_outage_s: float = Field(default=600.0, description="longest one outage is waited out; then the "
                                        "documents fail (retryable) and later runs retry them")

    max_attempts: int = 6
    backoff_base_s: float = 0.5
    backoff_max_s: float = 30.0
    retry_total_s: float = 300.0

    parse_requests_per_second: float = 1.0
    parse_pages_per_minute: float = 300.0
    async_requests_per_second: float = 2.0
    async_pages_per_minute: float = 1200.0
    extract_requests_per_second: float = 1.0
    classify_requests_per_second: float = Field(default=1.0, description="Document Classification sends "
                                                "(Upstage allows 100 requests per minute)")
    poll_requests_per_second: float = 2.0
    rate_limit_burst: float = 1.0
    rate_limit_headroom: float = Field(
        default=DEFAULT_HEADROOM, description="The fraction of each request rate left unused, so the buckets' "
        "even spacing stays under the send log's strict per-second count")
    rate_limit_max_skew_s: float = Field(
        default=DEFAULT_MAX_SKEW_S, description="How much later than others the server may count a request "
        "whose bytes went out at the same time (the network path's jitter, not its latency); a send holds its "
        "rate-limit slot until its answer arrives, at most this long after its bytes are out. The client sends "
        "at most limit/(1 + this) per second: 0.1 costs 9% of the rate, 0.015 costs 1.5% "
        "(bench/results/throughput.md). Raise it if the API answers 429 on a jittery path.")
    rate_limit_store: str | None = Field(
        default=None, description="Directory for the host's SQLite state, or a postgresql:// URL for "
        "several hosts. Default: $DAGSTER_HOME/upstage_rate_limits or a temp dir.")
    account: str = Field(default="default", description="names the spend budget's scope; the rate-limit "
                         "buckets are per key as well (Upstage counts per key): 'default' keys them by a hash "
                         "of the API key, any other value names them itself")
    rate_limit_header_prefixes: list[str] = Field(
        default=list(DEFAULT_PREFIXES), description="response headers kept as the API's rate-limit state "
        "(names starting with these), shown in the run's tags")
    rate_limit_limit_header: str = Field(
        default=DEFAULT_LIMIT_HEADER, description="the response header that states the request limit; the run "
        "warns when the configured requests/s disagree with it")
    rate_limit_limit_window_s: float = Field(default=60.0, description="the window that header's number counts over")

    sync_page_limit: int = 100
    poll_initial_s: float = 1.0
    poll_max_s: float = 15.0
    poll_timeout_s: float = 6 * 3600.0

    price_parse_standard: float = 0.01
    price_parse_enhanced: float = 0.03
    price_ocr: float = 0.0015
    price_extract: float = 0.01
    price_extract_enhanced: float = 0.03
    price_classify: float = Field(default=0.01, description="USD per page classified, the `classification` "
                                  "product (a guess: no published rate was found; set your contract's)")

    budget_per_run_usd: float | None = None
    budget_per_day_usd: float | None = None
    budget_warn_at: list[float] = [0.5, 0.9]

    extract_location: bool = True
    extract_confidence: bool = True

    def __repr__(self) -> str:
        return f"UpstageClient(base_url={self.base_url!r}, api_key='[REDACTED]')"

    __str__ = __repr__

    def product_prices(self, parse_mode: str = "standard") -> dict[str, float]:
        """USD per billed page of each product a document goes through (``storage.billing``).

        Defaults are the commonly quoted per-page rates (Document Parse standard $0.01,
        enhanced $0.03); Document Classification's $0.01 is a guess (no published rate found).
        Upstage publishes current prices at https://www.upstage.ai/pricing and in the console's
        billing page: set ``price_*`` to your contract's figures.
        """
        ledger = UsageLedger(prices=self.prices())
        return {PARSE: ledger.price(price_key("document-parse", parse_mode)),
                CLASSIFICATION: ledger.price("document-classify"),
                EXTRACTION: ledger.price(price_key("information-extract", self.extraction_mode()))}

    def limiter_account(self) -> str:
        """Whose rate limits these are: Upstage counts requests per key (and per model: the buckets are per
        endpoint), so two keys on one host never share a bucket. A hash, never the key itself."""
        if self.account != "default":
            return self.account
        return "key-" + hashlib.sha256(self.api_key.encode()).hexdigest()[:12]

    def extraction_mode(self) -> str:
        return "standard"

    def endpoint_limits(self) -> dict[str, EndpointLimits]:
        burst = self.rate_limit_burst
        return {
            "document-parse": EndpointLimits(self.parse_requests_per_second, self.parse_pages_per_minute, burst),
            "ocr": EndpointLimits(self.parse_requests_per_second, self.parse_pages_per_minute, burst),
            "document-parse-async": EndpointLimits(self.async_requests_per_second, self.async_pages_per_minute,
                                                   burst),
            "information-extraction": EndpointLimits(self.extract_requests_per_second, None, burst),
            "document-classification": EndpointLimits(self.classify_requests_per_second, None, burst),
            "poll": EndpointLimits(self.poll_requests_per_second, None, burst),
        }

    def prices(self) -> dict[str, float]:
        return {
            "document-parse": self.price_parse_standard, "document-parse-enhanced": self.price_parse_enhanced,
            "ocr": self.price_ocr, "information-extract": self.price_extract,
            "information-extract-enhanced": self.price_extract_enhanced,
            "prebuilt-extraction": self.price_extract, "document-classify": self.price_classify,
        }

    def create_parser(self, run_id: str | None = None, on_budget_warning: Callable[[str], None] | None = None,
                      store: SharedStateStore | None = None,
                      on_circuit_change: Callable[[str, str], None] | None = None) -> UpstageParser:
        """The working parser for one run (``run_id`` scopes the per-run budget; ``on_circuit_change``
        hears when an endpoint is paused by the circuit breaker and when it answers again)."""
        store = store or open_state_store(self.rate_limit_store)
        limiter = RateLimiter(store, self.endpoint_limits(), account=self.limiter_account(),
                              max_in_flight=self.max_in_flight, max_wait_s=self.poll_timeout_s,
                              headroom=self.rate_limit_headroom,
                              max_skew_s=self.rate_limit_max_skew_s)
        http = UpstageHttp(
            self.base_url, self.api_key,
            timeout=httpx.Timeout(connect=self.connect_timeout_s, read=self.read_timeout_s,
                                  write=self.read_timeout_s, pool=self.read_timeout_s),
            retry=RetryPolicy(self.max_attempts, self.backoff_base_s, self.backoff_max_s, self.retry_total_s),
            limiter=limiter, max_connections=self.max_connections,
            rate_limit_headers=RateLimitHeaders(tuple(p.lower() for p in self.rate_limit_header_prefixes),
                                                self.rate_limit_limit_header, self.rate_limit_limit_window_s),
            breaker=CircuitBreaker(BreakerSettings(self.breaker_threshold, self.breaker_base_pause_s,
                                                   self.breaker_max_pause_s, self.breaker_max_outage_s),
                                   on_change=on_circuit_change))
        budget = SpendBudget(store, run_id or uuid.uuid4().hex, self.budget_per_run_usd, self.budget_per_day_usd,
                             tuple(self.budget_warn_at), on_budget_warning, account=self.account)
        poll = AsyncPollSettings(self.poll_initial_s, self.poll_max_s, timeout_s=self.poll_timeout_s)
        return UpstageParser(
            http=http, parse_api=DocumentParseApi(http, sync_page_limit=self.sync_page_limit, poll=poll),
            extraction_api=InformationExtractionApi(http, ExtractionOptions(
                location=self.extract_location, confidence=self.extract_confidence)),
            classification_api=DocumentClassificationApi(http),
            budget=budget, ledger=UsageLedger(prices=self.prices()), store=store)


class UpstageParser(DocumentParser):
    """``DocumentParser`` over HTTP: budget check before sending, usage recorded after."""

    backend = "upstage"

    def __init__(self, *, http: UpstageHttp, parse_api: DocumentParseApi,
                 extraction_api: InformationExtractionApi, budget: SpendBudget, ledger: UsageLedger,
                 store: SharedStateStore, classification_api: DocumentClassificationApi | None = None):
        self.http = http
        self.classification_api = classification_api or DocumentClassificationApi(http)
        self.parse_api = parse_api
        self.extraction_api = extraction_api
        self.budget = budget
        self.ledger = ledger
        self.store = store

    def __repr__(self) -> str:
        return f"UpstageParser({self.http!r})"

    async def parse(self, document: SourceDocument, options: ParseOptions) -> dict[str, Any]:
        price = self.ledger.price(price_key("document-parse", options.mode))
        response = await self._billed(document, price, self.parse_api.parse(document, options))
        self.ledger.record(document.document_id, "document-parse", response, mode=options.mode,
                           fallback_pages=document.page_count)
        return response

    async def ocr(self, document: SourceDocument) -> dict[str, Any]:
        response = await self._billed(document, self.ledger.price("ocr"), self.parse_api.ocr(document))
        self.ledger.record(document.document_id, "ocr", response, fallback_pages=document.page_count)
        return response

    async def extract(self, document: SourceDocument, schema: ExtractionSchema,
                      parsed: dict[str, Any] | None = None) -> ExtractionResult:
        mode = self.extraction_api.options.mode
        price = self.ledger.price(price_key("information-extract", mode))
        result = await self._billed(document, price, self.extraction_api.extract(document, schema))
        self.ledger.record(document.document_id, "information-extract", {"usage": {"pages": result.pages_billed},
                           "model": result.response.get("model")}, mode=mode)
        return result

    async def extract_prebuilt(self, document: SourceDocument, model: str = "receipt-extraction") -> ExtractionResult:
        price = self.ledger.price("prebuilt-extraction")
        result = await self._billed(document, price, self.extraction_api.extract_prebuilt(document, model))
        self.ledger.record(document.document_id, "prebuilt-extraction", result.response)
        return result

    async def classify(self, document: SourceDocument, labels: list[DocumentLabel],
                       parsed: dict[str, Any] | None = None) -> ClassificationResult:
        price = self.ledger.price("document-classify")
        result = await self._billed(document, price, self.classification_api.classify(document, labels))
        self.ledger.record(document.document_id, "document-classify", {"usage": {"pages": result.pages_billed},
                           "model": result.response.get("model")})
        return result

    def take_lost_answer_pages(self, document_id: str, product: str) -> int:
        """Pages of this document's ``product`` requests whose answer was lost (the server may have
        processed and billed them) since the last call: each is handed to exactly one usage record."""
        endpoints = PRODUCT_ENDPOINTS.get(product, ())
        lost = self.http.stats.answer_lost_pages
        mine = [pair for pair in lost if pair[0] == document_id and pair[1] in endpoints]
        return sum(lost.pop(pair) for pair in mine)

    async def _billed(self, document: SourceDocument, price: float, call: Any) -> Any:
        """Reserve the document's cost, await the call, settle to the billed pages (release on failure)."""
        CURRENT_DOCUMENT.set(document.document_id)  # this task's requests are this document's
        try:
            reservation = self.budget.reserve(document.document_id, document.page_count, price)
        except BaseException:
            call.close()  # the coroutine was never awaited
            raise
        try:
            result = await call
        except UpstageError:
            self.budget.release(reservation)
            raise
        billed = result.pages_billed if isinstance(result, ExtractionResult | ClassificationResult) else pages_billed(
            result, document.page_count)
        self.budget.settle(reservation, billed, price)
        return result

    def usage(self) -> dict[str, Any]:
        """Run totals plus what the transport saw (attempts, retries, statuses, rate-limit waits)."""
        limiter = self.http.limiter
        return {**self.ledger.totals(), "attempts": self.http.stats.attempts, "retries": self.http.stats.retries,
                "statuses": dict(self.http.stats.statuses),
                "rate_limit_wait_s": round(limiter.waited_s, 3) if limiter else 0.0,
                "spend": self.budget.spent()}

    def rate_limit_report(self) -> tuple[dict[str, dict[str, str]], list[str]]:
        """The rate-limit headers last seen per endpoint, and where the configuration disagrees with them."""
        headers = self.http.rate_limit_headers
        configured = {name: limit.requests_per_second for name, limit in self.http.limiter.limits.items()} \
            if self.http.limiter else {}
        return dict(headers.seen), headers.disagreements(configured)

    async def aclose(self) -> None:
        await self.http.aclose()
