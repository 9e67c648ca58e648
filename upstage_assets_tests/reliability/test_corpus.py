"""The real broken and unusual PDFs of the shared corpus: each ends processed or specifically refused."""

from __future__ import annotations

import pytest

from upstage_assets.defs.pipeline.keys import PARSED_LAYOUTS, RAW_DOCUMENTS
from upstage_assets_tests.reliability.bad_input_run import run_bad_inputs
from upstage_assets_tests.reliability.corpus import CORPUS, copy_corpus, corpus_available, judge_corpus

KEY = "sentinel-corpus-key-Wq4"
PAGE_LIMIT = 20  # configured limits: longer or bigger files are refused before the API (too_many_pages,
BYTE_LIMIT = 1024 * 1024  # too_large); a 1.1 MB corrupt scan takes the local engine minutes on a busy CPU


@pytest.mark.slow
@pytest.mark.timeout(900)
@pytest.mark.skipif(not corpus_available(), reason=f"the shared robustness corpus is absent ({CORPUS})")
def test_every_corpus_file_is_processed_or_refused_with_a_specific_error(tmp_path, monkeypatch):
    monkeypatch.setenv("UPSTAGE_API_KEY", KEY)
    cases = copy_corpus(tmp_path / "data" / "inbox")
    assert len(cases) > 60
    report = run_bad_inputs(tmp_path, api_key=KEY, selection=(RAW_DOCUMENTS, PARSED_LAYOUTS),
                            run_config={"ops": {"document_pipeline": {"config": {"max_pages": PAGE_LIMIT,
                                                                                  "max_document_bytes": BYTE_LIMIT}}}})

    assert judge_corpus(report, cases) == []
    encrypted = [k for k, c in cases.items() if c.expected == "encrypted_document"]
    assert len(encrypted) >= 7
    owner_only = [k for k, c in cases.items() if c.expected is None]
    assert sum(1 for k in owner_only if report.outcomes[k].parsed) >= len(owner_only) - 1, "owner-only files open"
    processed = [o for o in report.outcomes.values() if o.parsed]
    assert len(processed) >= len(cases) // 2
    assert report.parse_requests <= len(processed) + sum(
        1 for o in report.outcomes.values() if o.error_code and o.error_code.startswith("upstage_")), \
        "nothing refused before the API was sent to it"
