"""Errors that are recorded against one document instead of failing a whole run.

Every class carries a stable ``code`` (what lands in the failures table and the UI) and
whether retrying the same bytes later can succeed (``retryable``): a throttled API call can,
a corrupt PDF cannot until someone replaces the file.
"""

from __future__ import annotations

from upstage_assets.redaction import redact
from upstage_assets.unicode_text import valid_text


class DocumentError(Exception):
    """A problem with one document; the run records it and moves on to the next one."""

    code = "document_error"
    retryable = False

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message

    def as_record(self) -> dict[str, object]:
        return {"error_code": self.code, "error_class": type(self).__name__,
                "message": valid_text(self.message), "retryable": self.retryable}


class EmptyDocument(DocumentError):
    code = "empty_document"


class CorruptDocument(DocumentError):
    code = "corrupt_document"


class EncryptedDocument(DocumentError):
    code = "encrypted_document"


class UnsupportedDocumentType(DocumentError):
    code = "unsupported_type"


class DocumentTooLarge(DocumentError):
    code = "too_large"


class TooManyPages(DocumentError):
    code = "too_many_pages"


class ImageTooLarge(DocumentError):
    code = "too_many_pixels"


class UnsafeSourceName(DocumentError):
    """The source's name cannot be addressed safely (backslashes, ``..``): rename the file."""

    code = "unsafe_name"


class UnsafeDocumentKey(DocumentError):
    """A partition key that is not one plain path segment: it could address another document's files."""

    code = "unsafe_document_key"


class SourceUnavailable(DocumentError):
    """The source object vanished or cannot be read; retry once it is back."""

    code = "source_unavailable"
    retryable = True


class ContentChanged(DocumentError):
    """The bytes at the source no longer hash to the registered document id."""

    code = "content_changed"


class StorageFull(DocumentError):
    """The output store has no space left (ENOSPC, or a quota): nothing half-written stays visible.

    Retryable: once space is freed, ``retry-failed`` writes the document again from the stage it
    reached (what was stored before the disk filled is kept, what the API returned is re-fetched).
    """

    code = "storage_full"
    retryable = True


class UpstreamMissing(DocumentError):
    """A stage ran for a document whose previous stage has no stored result yet."""

    code = "upstream_missing"
    retryable = True


class BudgetExceeded(DocumentError):
    """Sending the document would push spend past the configured budget; it stays pending."""

    code = "budget_exceeded"
    retryable = True


class ExtractionFailed(DocumentError):
    code = "extraction_failed"


class EngineTimeout(DocumentError):
    """The local engine ran past its time limit on this document (a hang, or a pathological file).

    Retryable: the limit or the machine's load may differ next time; the worker was replaced.
    """

    code = "engine_timeout"
    retryable = True


class EngineCrashed(DocumentError):
    """The local engine's worker died on this document (a native crash, or its memory limit)."""

    code = "engine_crashed"
    retryable = True


class UnsupportedScript(DocumentError):
    """The page is in a script the installed OCR cannot read (Korean without tesseract's data)."""

    code = "unsupported_script"


class InternalError(DocumentError):
    """An unexpected exception while one document was processed (a bug, or input nobody foresaw).

    It is recorded against that document like any other failure, so the batch goes on; it is
    retryable because a fixed release (or a transient cause) may let the same bytes through.
    """

    code = "internal_error"
    retryable = True
    MAX_MESSAGE = 300

    def __init__(self, message: str, exception_type: str = ""):
        super().__init__(message)
        self.exception_type = exception_type

    @classmethod
    def from_exception(cls, exc: BaseException, stage: str) -> InternalError:
        detail = valid_text(redact(str(exc)))
        if len(detail) > cls.MAX_MESSAGE:
            detail = detail[:cls.MAX_MESSAGE] + "..."
        name = type(exc).__name__
        return cls(f"{name} in {stage}: {detail}" if detail else f"{name} in {stage}", exception_type=name)

    def as_record(self) -> dict[str, object]:
        return {**super().as_record(), "error_class": self.exception_type or type(self).__name__}
