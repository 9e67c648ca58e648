"""What an Upstage HTTP failure means for the one document that caused it.

Each HTTP status the contract lists (shared/upstage-api.md section 7) maps to a
``DocumentError`` subclass, so a run records the failure against the document and moves on.
Messages carry the status, the endpoint path and the server's own message, never a header:
the API key must not reach a log, an exception or the failures table.
"""

from __future__ import annotations

import json

from upstage_assets.errors import DocumentError
from upstage_assets.redaction import redact

MAX_SERVER_MESSAGE = 300


class UpstageError(DocumentError):
    """Any refusal from the Upstage API; ``status`` is the HTTP status (0 for transport failures)."""

    code = "upstage_error"

    def __init__(self, message: str, *, status: int = 0, path: str = ""):
        super().__init__(message)
        self.status = status
        self.path = path


class UpstageBadRequest(UpstageError):
    """400: bad model, missing document, bad parameters or schema. Sending it again changes nothing."""

    code = "upstage_bad_request"


class UpstageUnauthorized(UpstageError):
    """401: missing or wrong API key."""

    code = "upstage_unauthorized"


class UpstageInsufficientCredit(UpstageError):
    """403 on an API call: the account is out of credit. Retryable once someone tops it up."""

    code = "upstage_insufficient_credit"
    retryable = True


class UpstagePayloadTooLarge(UpstageError):
    """413: too many bytes, or too many pages for the sync endpoint."""

    code = "upstage_payload_too_large"


class UpstageUnsupportedType(UpstageError):
    """415: the API does not read this format."""

    code = "upstage_unsupported_type"


class UpstageCorruptDocument(UpstageError):
    """422: the API could not decode the document."""

    code = "upstage_corrupt_document"


class UpstageNotFound(UpstageError):
    """404: unknown path or job (a wrong base_url, or an async job the server has forgotten)."""

    code = "upstage_not_found"


class UpstageRateLimited(UpstageError):
    """429 on every attempt: the document stays pending and a later run sends it again."""

    code = "upstage_rate_limited"
    retryable = True


class UpstageServerError(UpstageError):
    """5xx, timeouts or connection failures on every attempt."""

    code = "upstage_server_error"
    retryable = True


class UpstageUnreachable(UpstageError):
    """No connection to the base URL on any attempt (refused, unknown host, connect timeout).

    Not a server error: nothing answered. The usual cause is a wrong ``UPSTAGE_API_BASE_URL``
    or an emulator that is not running; retryable once it is reachable.
    """

    code = "upstage_unreachable"
    retryable = True


class UpstageJobFailed(UpstageError):
    """An async job or batch ended ``failed``; the reason is the server's ``failure_message``.

    Retryable: a batch fails on the server's side (an internal error while processing it), and
    the same bytes submitted again are a new job; documents the API cannot read are refused
    earlier, with 4xx codes, before any job exists.
    """

    code = "upstage_job_failed"
    retryable = True


class UpstageProtocolError(UpstageError):
    """The server answered 2xx with a body that does not follow the contract."""

    code = "upstage_protocol_error"
    retryable = True


ERROR_FOR_STATUS: dict[int, type[UpstageError]] = {
    400: UpstageBadRequest,
    401: UpstageUnauthorized,
    403: UpstageInsufficientCredit,
    404: UpstageNotFound,
    405: UpstageBadRequest,
    413: UpstagePayloadTooLarge,
    415: UpstageUnsupportedType,
    422: UpstageCorruptDocument,
    429: UpstageRateLimited,
}


def server_message(body: bytes) -> str:
    """The server's own explanation: OpenAI-style ``error.message``, ``message``, or the raw text."""
    text = body.decode("utf-8", errors="replace")
    try:
        payload = json.loads(text)
    except ValueError:
        return text[:MAX_SERVER_MESSAGE]
    if isinstance(payload, dict):
        error = payload.get("error")
        if isinstance(error, dict) and error.get("message"):
            return str(error["message"])[:MAX_SERVER_MESSAGE]
        if isinstance(error, str):
            return error[:MAX_SERVER_MESSAGE]
        if payload.get("message"):
            return str(payload["message"])[:MAX_SERVER_MESSAGE]
    return text[:MAX_SERVER_MESSAGE]


def error_for_response(status: int, path: str, body: bytes, secret: str | None = None) -> UpstageError:
    """Build the specific error for a final (not retried) non-2xx answer."""
    cls = ERROR_FOR_STATUS.get(status)
    if cls is None:
        cls = UpstageServerError if status >= 500 else UpstageBadRequest
    detail = redact(server_message(body), secret)
    return cls(f"Upstage {path} answered HTTP {status}: {detail}", status=status, path=path)


class UpstageDownloadExpired(UpstageError):
    """403/404 from a pre-signed ``download_url``: it expired; poll again for a fresh one."""

    code = "upstage_download_expired"
    retryable = True
