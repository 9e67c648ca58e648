"""Torch page preprocessing: detector batches, resolution normalisation, devices, ink."""

from __future__ import annotations

import numpy as np

from upstage_assets.local_engine import preprocess


def test_detection_batch_is_normalised_padded_and_stride_aligned() -> None:
    tall = np.full((1013, 463, 3), 255, dtype=np.uint8)
    wide = np.zeros((300, 500, 3), dtype=np.uint8)
    prepared = preprocess.prepare_detection_batch([tall, wide], device="cpu", max_side=960)
    assert prepared.batch.dtype == np.float32
    n, c, h, w = prepared.batch.shape
    assert (n, c) == (2, 3) and h % 32 == 0 and w % 32 == 0
    (h0, w0), (h1, w1) = prepared.resized_sizes
    assert max(h0, w0) <= 960 + 16 and h0 % 32 == 0 and w0 % 32 == 0
    assert max(h1, w1) >= preprocess.DETECTION_MIN_SIDE - 16  # small images are enlarged
    assert np.allclose(prepared.batch[0, :, :h0, :w0], 1.0)  # white -> +1
    assert np.allclose(prepared.batch[1, :, :h1, :w1], -1.0)  # black -> -1
    assert np.all(prepared.batch[0, :, h0:, :] == 0) and np.all(prepared.batch[0, :, :, w0:] == 0)


def test_missing_cuda_falls_back_to_cpu() -> None:
    import torch

    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert preprocess.resolve_device("cuda:0").type == expected
    assert preprocess.resolve_device(None).type == "cpu"


def test_over_resolved_scans_are_brought_to_300_dpi() -> None:
    page = np.full((2400, 1600, 3), 200, dtype=np.uint8)
    out = preprocess.normalise_page_image(page, dpi=600)
    assert out.shape == (1200, 800, 3) and out.dtype == np.uint8
    assert int(out[600, 400, 0]) == 200
    assert preprocess.normalise_page_image(page, dpi=300) is page


def test_ink_profile_finds_gaps_for_dark_and_light_text() -> None:
    crop = np.full((20, 30, 3), 255, dtype=np.uint8)
    crop[5:15, 2:8] = 0
    crop[5:15, 20:26] = 0
    profile = preprocess.ink_profile(crop)
    assert profile[4] > 0 and profile[12] == 0 and profile[22] > 0
    inverted = preprocess.ink_profile(255 - crop)  # light text on a dark band
    assert inverted[4] > 0 and inverted[12] == 0
