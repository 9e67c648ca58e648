"""The step keeps full garbage collections off what it has loaded while its batch runs, and only then."""

from __future__ import annotations

import gc

import pytest

from upstage_assets.defs.pipeline.document_pipeline import collector_skips_what_is_loaded


def test_the_batch_freezes_what_is_loaded_and_hands_it_back_even_when_it_fails():
    gc.unfreeze()
    with pytest.raises(RuntimeError), collector_skips_what_is_loaded():
        assert gc.get_freeze_count() > 0  # what was alive (Dagster, the definitions): skipped by full collections
        raise RuntimeError("a batch that fails")
    assert gc.get_freeze_count() == 0  # nothing stays out of the collector's reach after the step
