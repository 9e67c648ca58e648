"""Fault hooks for the engine's worker processes, loaded there through UPSTAGE_ASSETS_ENGINE_PRELOAD.

A document whose bytes carry a marker makes ``parse_document`` hang, exit, or be killed, the
way a pathological file makes pdfium or onnxruntime misbehave (no real file that reliably
hangs or crashes the engine is available; this reproduces the effect inside the real worker).
"""

from __future__ import annotations

import os
import signal
import time
from typing import Any

from upstage_assets.local_engine import document_parse

HANG = b"%ENGINE-FAULT-HANG"
EXIT = b"%ENGINE-FAULT-EXIT"
KILL = b"%ENGINE-FAULT-KILL"

_real_parse = document_parse.parse_document


def parse_document(data: bytes, **kwargs: Any) -> dict[str, Any]:
    if HANG in data:
        time.sleep(3600)
    if EXIT in data:
        os._exit(70)
    if KILL in data:
        os.kill(os.getpid(), signal.SIGKILL)
    return _real_parse(data, **kwargs)


document_parse.parse_document = parse_document  # type: ignore[assignment]
