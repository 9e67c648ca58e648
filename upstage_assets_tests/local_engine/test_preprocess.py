"""OpenCV page preprocessing: detector batches, resolution normalisation, ink; OCR devices."""

from __future__ import annotations

import numpy as np

from upstage_assets.local_engine import preprocess


def test_detection_batch_is_normalised_padded_and_stride_aligned() -> None:
    tall = np.full((1013, 463, 3), 255, dtype=np.uint8)
    wide = np.zeros((300, 500, 3), dtype=np.uint8)
    prepared = preprocess.prepare_detection_batch([tall, wide], max_side=960)
    assert prepared.batch.dtype == np.float32
    n, c, h, w = prepared.batch.shape
    assert (n, c) == (2, 3) and h % 32 == 0 and w % 32 == 0
    (h0, w0), (h1, w1) = prepared.resized_sizes
    assert max(h0, w0) <= 960 + 16 and h0 % 32 == 0 and w0 % 32 == 0
    assert max(h1, w1) >= preprocess.DETECTION_MIN_SIDE - 16  # small images are enlarged
    assert np.allclose(prepared.batch[0, :, :h0, :w0], 1.0)  # white -> +1
    assert np.allclose(prepared.batch[1, :, :h1, :w1], -1.0)  # black -> -1
    assert np.all(prepared.batch[0, :, h0:, :] == 0) and np.all(prepared.batch[0, :, :, w0:] == 0)


def test_ocr_runs_on_cuda_only_where_onnxruntime_has_it() -> None:
    import onnxruntime as ort

    from upstage_assets.local_engine.ocr_models import providers_for

    assert providers_for(None) == ["CPUExecutionProvider"] == providers_for("cpu")
    if "CUDAExecutionProvider" in ort.get_available_providers():
        assert providers_for("cuda:1")[0] == ("CUDAExecutionProvider", {"device_id": 1})
    else:  # the CPU build (the default install): a CUDA device falls back to the CPU
        assert providers_for("cuda:0") == ["CPUExecutionProvider"]


def test_resizing_keeps_gradients_without_aliasing() -> None:
    stripes = np.zeros((400, 400, 3), dtype=np.uint8)
    stripes[:, ::2] = 255  # finest possible detail: shrinking by 4 must average it to grey
    small = preprocess.resize(stripes, 100, 100)
    assert small.shape == (100, 100, 3) and abs(int(small[50, 50, 0]) - 128) <= 2
    big = preprocess.resize(np.array([[[0] * 3, [255] * 3]], dtype=np.uint8), 2, 4)
    assert big.shape == (2, 4, 3) and big[0, 0, 0] < big[0, 3, 0]


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
