"""Keeps bench/gpu_check.py from rotting: its model and executor sections must pass on this machine.

On a CPU-only machine that proves the fallback (training and inference on the CPU, GPU-tagged
steps given ``cpu (fallback)``); on a GPU host the same run compares cuda:0 with the CPU and
expects the steps on ``GPU <id>`` (its device figures are in bench/results/gpu.md). The corpus
is generated: receipt-like pages drawn with Pillow, their line boxes and labels.
"""

import json
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = {"type": "json_schema", "json_schema": {"name": "receipt", "schema": {"type": "object", "properties": {
    "company": {"type": "string"}, "date": {"type": "string"}, "address": {"type": "string"},
    "total": {"type": "string"}}}}}


def _write_corpus(root: Path, count: int) -> Path:
    from PIL import Image, ImageDraw

    rng = random.Random(5)
    for folder in ("documents", "boxes", "labels"):
        (root / folder).mkdir(parents=True)
    (root / "schema.json").write_text(json.dumps(SCHEMA))
    for index in range(count):
        labels = {"company": f"{rng.choice(['KEDAI', 'SYARIKAT', 'TOKO'])} {rng.choice(['MAJU', 'JAYA'])} SDN BHD",
                  "date": f"{rng.randint(1, 28):02d}/{rng.randint(1, 12):02d}/2019",
                  "address": f"NO {rng.randint(1, 99)}, JALAN BESAR {rng.randint(1, 20)}",
                  "total": f"{rng.randint(1, 300)}.{rng.randint(0, 99):02d}"}
        lines = ["OFFICIAL RECEIPT", labels["company"], labels["address"], f"DATE: {labels['date']}",
                 f"ITEM {rng.randint(1, 9)}  {rng.randint(1, 50)}.00", f"TOTAL  {labels['total']}", "THANK YOU"]
        image = Image.new("RGB", (400, 30 * len(lines) + 40), "white")
        draw = ImageDraw.Draw(image)
        rows = []
        for number, text in enumerate(lines):
            y = 20 + 30 * number
            draw.text((20, y), text, fill="black")
            x1 = 20 + 7 * len(text)
            rows.append(f"20,{y},{x1},{y},{x1},{y + 14},20,{y + 14},{text}")
        image.save(root / "documents" / f"{index:03d}.jpg")
        (root / "boxes" / f"{index:03d}.csv").write_text("\n".join(rows) + "\n")
        (root / "labels" / f"{index:03d}.json").write_text(json.dumps(labels))
    return root


@pytest.mark.slow
def test_gpu_check_model_and_executor_sections_pass_here(tmp_path):
    import torch

    corpus = _write_corpus(tmp_path / "corpus", 12)
    report = tmp_path / "gpu.md"
    env = {k: v for k, v in os.environ.items() if k != "CUDA_VISIBLE_DEVICES"}
    result = subprocess.run(
        [sys.executable, "bench/gpu_check.py", "--corpus", str(corpus), "--limit", "12", "--epochs", "1",
         "--sections", "model,executor", "--out", str(report), "--json", str(tmp_path / "gpu.json")],
        cwd=ROOT, capture_output=True, text=True, timeout=600, env=env)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    text = report.read_text()
    assert "| PASS | fit on cpu: model card device |" in text
    assert "| PASS | Dagster run through gpu_executor succeeded |" in text
    assert "FAIL" not in text and "raised" not in text
    figures = json.loads((tmp_path / "gpu.json").read_text())
    steps = figures["executor"]["steps"]
    assert set(steps) == {"gpu_training", "gpu_inference", "gpu_ocr", "untagged_training"}
    if torch.cuda.is_available():
        assert "| PASS | same weights, cuda vs cpu: decoded field values identical, except words at" in text
        assert figures["executor"]["event_device_metadata"]["gpu_training"].startswith("GPU ")
    else:
        assert "| INFO | GPU inference vs CPU | skipped: no CUDA device here |" in text
        assert figures["executor"]["event_device_metadata"]["gpu_training"] == "cpu (fallback)"
        assert steps["gpu_training"]["card_device"] == "cpu"
