"""Run in a separate process: one UpstageClient parsing many documents against a shared limiter."""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace
from typing import Any

from upstage_assets.resources.upstage_client import UpstageClient
from upstage_assets.upstage_api.errors import UpstageError
from upstage_assets.upstage_api.parser import ParseOptions

from .documents import pdf_document


def parse_many(url: str, state_dir: str, prefix: str, documents: int, settings: dict[str, Any],
               start_at: float, distinct: int | None = None) -> dict[str, Any]:
    """Parse ``documents`` one-page PDFs concurrently; report successes, failures, usage.

    ``distinct`` bounds how many different contents there are (the emulator caches results
    of identical requests, so a rate test measures the client rather than the engine's CPU).
    """
    client = UpstageClient(base_url=url, api_key="up_load_test_key", rate_limit_store=state_dir, **settings)
    parser = client.create_parser(run_id=prefix)
    contents = [pdf_document(f"{prefix}-{i:03d}") for i in range(distinct or documents)]
    sources = [replace(contents[i % len(contents)], document_id=f"{prefix}-{i:03d}") for i in range(documents)]

    async def main() -> dict[str, Any]:
        async def one(source) -> tuple[str, str]:
            try:
                response = await parser.parse(source, ParseOptions())
            except UpstageError as error:
                return source.document_id, f"error: {error.code}"
            expected = f"{source.document_id[:len(prefix)]}-{int(source.document_id[-3:]) % len(contents):03d}"
            return source.document_id, "ok" if expected in response["content"]["text"] else "wrong content"

        outcomes = await asyncio.gather(*(one(s) for s in sources))
        await parser.aclose()
        return {"outcomes": dict(outcomes), "usage": parser.usage()}

    time.sleep(max(0.0, start_at - time.time()))
    return asyncio.run(main())
