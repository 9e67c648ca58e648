"""Secrets out of every text bound for a log, a message, metadata or a table.

Secret values come from the environment only (the Upstage key, AWS credentials, the alert
webhook); anything shaped like an Upstage key or a bearer token is masked as well, so a key
that reached a message some other way is still not shown.
"""

from __future__ import annotations

import os
import re

SECRET_ENVS = ("UPSTAGE_API_KEY", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_ACCESS_KEY_ID",
               "UPSTAGE_ASSETS_WEBHOOK_URL")
MASK = "[REDACTED]"
_KEY_PATTERN = re.compile(r"(Bearer\s+)?up_[A-Za-z0-9_\-]+")
_MIN_SECRET_CHARS = 4  # shorter values would mask ordinary words


def redact(text: str, secret: str | None = None) -> str:
    """``text`` with ``secret``, every secret value of the environment and key-shaped words masked."""
    for value in (secret, *(os.environ.get(name) for name in SECRET_ENVS)):
        if value and len(value) >= _MIN_SECRET_CHARS:
            text = text.replace(value, MASK)
    return _KEY_PATTERN.sub(MASK, text)
