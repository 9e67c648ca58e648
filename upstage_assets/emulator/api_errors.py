"""API errors in the OpenAI-style body Upstage answers with (contract section 7).

Clients must branch on the HTTP status; ``code`` is a stable hint for humans and logs.
"""

from __future__ import annotations

from starlette.responses import JSONResponse

from upstage_assets.errors import (
    CorruptDocument,
    DocumentError,
    DocumentTooLarge,
    EmptyDocument,
    EncryptedDocument,
    ImageTooLarge,
    TooManyPages,
    UnsupportedDocumentType,
)

ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    405: "invalid_request_error",
    413: "invalid_request_error",
    415: "invalid_request_error",
    422: "invalid_request_error",
    429: "rate_limit_error",
}


class ApiError(Exception):
    """Raised anywhere in a handler; the app turns it into the error response."""

    def __init__(self, status: int, message: str, code: str | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code

    def __reduce__(self) -> tuple[type[ApiError], tuple[int, str, str | None]]:
        return (ApiError, (self.status, self.message, self.code))  # survives process-pool workers

    def response(self) -> JSONResponse:
        return error_response(self.status, self.message, self.code)


def error_response(status: int, message: str, code: str | None = None) -> JSONResponse:
    error_type = ERROR_TYPES.get(status, "server_error" if status >= 500 else "invalid_request_error")
    return JSONResponse({"error": {"message": message, "type": error_type, "code": code}}, status_code=status)


def api_error_for_document(exc: DocumentError) -> ApiError:
    """Map the inspection's refusal to the status the API uses for it."""
    if isinstance(exc, EmptyDocument):
        return ApiError(400, f"no document: {exc.message}", "no_document")
    if isinstance(exc, UnsupportedDocumentType):
        return ApiError(415, f"unsupported document format: {exc.message}", "unsupported_document_format")
    if isinstance(exc, DocumentTooLarge):
        return ApiError(413, f"document too large: {exc.message}", "document_too_large")
    if isinstance(exc, TooManyPages):
        return ApiError(413, f"too many pages: {exc.message}", "too_many_pages")
    if isinstance(exc, ImageTooLarge):
        return ApiError(413, f"image too large: {exc.message}", "too_many_pixels")
    if isinstance(exc, EncryptedDocument | CorruptDocument):
        return ApiError(422, f"corrupted document: {exc.message}", "corrupted_document")
    return ApiError(400, exc.message, exc.code)
