"""What the emulator billed, per document: the 'paid twice' check of the reliability scenarios."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterable

from upstage_assets.ingest.naming import document_id_for_sha256


def billed_answers(base_url: str) -> dict[str, dict[str, int]]:
    """document id -> endpoint group -> answers billed (delivered whole with status 200)."""
    with urllib.request.urlopen(f"{base_url}/__emulator__/stats", timeout=10) as response:
        stats = json.loads(response.read())
    return {document_id_for_sha256(sha): {group: int(v["answers"]) for group, v in groups.items()}
            for sha, groups in stats.get("billed_by_document", {}).items()}


def paid_twice(billed: dict[str, dict[str, int]], documents: Iterable[str]) -> list[str]:
    """Documents any endpoint answered (and billed) more than once."""
    return sorted(d for d in documents if any(n > 1 for n in billed.get(d, {}).values()))
