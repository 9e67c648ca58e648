"""Check the GPU path end to end on the machine it runs on; on a CPU-only machine it reports the fallback.

    python bench/gpu_check.py --corpus ../shared/corpus/receipts-train --limit 40 \
        --out bench/results/gpu.md [--json gpu.json]

On a GPU host run it with ``CUDA_VISIBLE_DEVICES`` unset (the executor must find the GPU
through nvidia-smi) and the project importable (an editable install, or ``PYTHONPATH=.``).
The corpus needs ``documents/``, ``boxes/``, ``labels/`` and ``schema.json``; pages are read
from their line transcripts, so no OCR is needed for the model sections. Four sections:

1. environment: GPU, driver, torch and onnxruntime versions and providers;
2. the learned receipt model through the project's own code: ``fit`` on cuda:0 and on the
   CPU (same data, same seed), then the GPU-trained weights tag every page on both devices:
   probabilities compared, decoded field values compared one by one, and the local KIE's
   ``learned_fields`` (the packaged model) compared on both;
3. ``gpu_executor``: ``detect_devices()``, then a Dagster run (temporary instance) of
   ``bench/gpu_check_job.py``: which device each step process was given and saw, and the
   device text in each step's ``STEP_WORKER_STARTING`` event metadata;
4. OCR: the onnxruntime providers, and one receipt page OCRed with ``device="cuda:0"`` and
   without: provider, text equality, seconds per page.

Each check prints PASS/FAIL/INFO; the Markdown report lists them with the timings. The exit
status is 1 when a check failed. Nothing here is timed in a test: the figures are this run's.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
CHECKS: list[tuple[str, str, str]] = []  # (status, name, detail)
ACCELERATOR = "cuda"  # the comparison's second device (a CPU dry run of the comparison code sets "cpu")


def check(name: str, ok: bool | None, detail: Any = "") -> bool:
    status = "INFO" if ok is None else ("PASS" if ok else "FAIL")
    CHECKS.append((status, name, str(detail)))
    print(f"{status} {name}: {detail}", flush=True)
    return bool(ok)


@contextlib.contextmanager
def visible_devices(value: str | None) -> Iterator[None]:
    """``CUDA_VISIBLE_DEVICES`` for the project's ``select_device`` (read at each call)."""
    before = os.environ.get("CUDA_VISIBLE_DEVICES")
    if value is None:
        os.environ.pop("CUDA_VISIBLE_DEVICES", None)
    else:
        os.environ["CUDA_VISIBLE_DEVICES"] = value
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("CUDA_VISIBLE_DEVICES", None)
        else:
            os.environ["CUDA_VISIBLE_DEVICES"] = before


def environment() -> dict[str, Any]:
    import onnxruntime as ort
    import torch

    env: dict[str, Any] = {"python": platform.python_version(), "machine": platform.machine(),
                           "torch": torch.__version__, "torch_cuda": torch.version.cuda,
                           "cuda_available": torch.cuda.is_available(), "onnxruntime": ort.__version__,
                           "onnxruntime_providers": ort.get_available_providers()}
    smi = shutil.which("nvidia-smi")
    if smi:
        out = subprocess.run([smi, "--query-gpu=index,name,driver_version,memory.total", "--format=csv,noheader"],
                             capture_output=True, text=True, timeout=20)
        env["nvidia_smi"] = out.stdout.strip() or out.stderr.strip()
    if env["cuda_available"]:
        env["gpu"] = torch.cuda.get_device_name(0)
    for key, value in env.items():
        check(f"env {key}", None, value)
    return env


def learned_model(corpus: Path, limit: int, epochs: int, gpu: bool) -> dict[str, Any]:
    import numpy as np
    import torch

    from upstage_assets.local_engine.learned.extract import learned_fields
    from upstage_assets.local_engine.learned.fit import fit, views_and_labels
    from upstage_assets.local_engine.learned.predict import decode, tag
    from upstage_assets.local_engine.learned.train import TrainConfig, select_device
    from upstage_assets.local_engine.learned.training_set import from_corpus

    started = time.monotonic()
    training_set = from_corpus(corpus, text="transcripts", limit=limit)
    out: dict[str, Any] = {"documents": len(training_set.train) + len(training_set.held_back),
                           "train": len(training_set.train), "held_back": len(training_set.held_back),
                           "read_seconds": round(time.monotonic() - started, 1), "epochs": epochs}
    config = TrainConfig(epochs=epochs)
    runs: dict[str, Any] = {}
    for name, visible in (("cuda", "0"), ("cpu", "")) if gpu else (("cpu", ""),):
        with visible_devices(visible):
            check(f"select_device with CUDA_VISIBLE_DEVICES={visible!r}", str(select_device()) == name,
                  select_device())
            started = time.monotonic()
            model, curve = fit(training_set, config)
            seconds = time.monotonic() - started
        runs[name] = model
        out[f"{name}_fit_seconds"] = round(seconds, 2)
        out[f"{name}_epoch_seconds"] = [row["seconds"] for row in curve]
        out[f"{name}_final_loss"] = curve[-1]["train_loss"]
        out[f"{name}_held_back"] = model.card["held_back_metrics"]
        check(f"fit on {name}: model card device", model.card["device"] == name,
              f"card device {model.card['device']}, {seconds:.1f} s for {epochs} epochs "
              f"(per-epoch cumulative s {out[f'{name}_epoch_seconds']}), final loss {curve[-1]['train_loss']}")
    if not gpu:
        check("GPU inference vs CPU", None, "skipped: no CUDA device here")
        return out

    # The GPU-trained weights, on both devices, over every page of the subset.
    model = runs["cuda"]
    views, _ = views_and_labels(training_set.train + training_set.held_back)
    cpu_tagger = model.tagger.cpu().eval()
    started = time.monotonic()
    cpu_probs = tag(cpu_tagger, views, torch.device("cpu"))
    out["cpu_tag_seconds"] = round(time.monotonic() - started, 3)
    accelerator = torch.device(ACCELERATOR)
    gpu_tagger = FieldTaggerCopy.of(cpu_tagger).to(accelerator).eval()
    tag(gpu_tagger, views, accelerator)  # warm-up (CUDA context, kernels)
    started = time.monotonic()
    gpu_probs = tag(gpu_tagger, views, accelerator)  # tag() copies the result to the host: synchronised
    out["gpu_tag_seconds"] = round(time.monotonic() - started, 3)
    diff = max(float(np.abs(a - b).max()) for page_a, page_b in zip(cpu_probs, gpu_probs, strict=True)
               for a, b in zip(page_a, page_b, strict=True) if a.size)
    out["max_abs_probability_diff"] = diff
    check("same weights, cuda vs cpu: largest per-character probability difference", diff < 1e-3, f"{diff:.2e}")
    same = total = 0
    mismatches: list[dict[str, Any]] = []
    for view, a, b in zip(views, cpu_probs, gpu_probs, strict=True):
        left = decode(view, a, model.fields, model.lexicon, model.join_shares)
        right = decode(view, b, model.fields, model.lexicon, model.join_shares)
        for index, field in enumerate(model.fields):
            pa, pb = left[field.name], right[field.name]
            total += 1
            if (pa.value if pa else None) == (pb.value if pb else None):
                same += 1
            else:
                mismatches.append({"field": field.name, "cpu": pa and pa.value, "cuda": pb and pb.value,
                                   "kind": field.kind, "threshold_flips": threshold_flips(view, a, b, index)})
    out["decoded_same"], out["decoded_total"], out["decoded_mismatches"] = same, total, mismatches
    # float32 kernels differ by ~1e-4 between devices: a word whose mean probability sits that close to
    # the decoder's word threshold can fall on either side. Any other difference is a real one.
    unexplained = [m for m in mismatches if m["kind"] in ("date", "amount") or not m["threshold_flips"]]
    check("same weights, cuda vs cpu: decoded field values identical, except words at the decoder's "
          "threshold", not unexplained,
          f"{same}/{total} values identical ({len(views)} pages x {len(model.fields)} fields); "
          f"differing: {mismatches[:3]}")

    # The local KIE's own model call (the packaged receipt model), on each device.
    parsed = [doc.parsed for doc in training_set.documents][:10]
    answers = {}
    for name, visible in (("cpu", ""), ("cuda", "0")):  # cpu first: the cached model moves to cuda in place
        with visible_devices(visible):
            started = time.monotonic()
            answers[name] = [learned_fields(p, training_set.properties) for p in parsed]
            out[f"learned_fields_{name}_seconds"] = round(time.monotonic() - started, 3)
    values = {name: [{k: v["value"] for k, v in a.items()} for a in found] for name, found in answers.items()}
    confidence_gap = max((abs(a[k]["confidence"] - b[k]["confidence"])
                          for a, b in zip(answers["cpu"], answers["cuda"], strict=True) for k in a if k in b),
                         default=0.0)
    check("learned_fields (packaged model) on cuda vs cpu: same fields and values",
          values["cpu"] == values["cuda"],
          f"{sum(len(v) for v in values['cuda'])} values on {len(parsed)} pages, "
          f"largest confidence gap {confidence_gap:.4f}")
    return out


def threshold_flips(view: Any, cpu: list[Any], cuda: list[Any], field: int,
                    margin: float = 1e-3) -> list[tuple[str, float, float]]:
    """Words of a text field whose mean probability is on opposite sides of the decoder's word
    threshold on the two devices while differing by less than ``margin``: (word, cpu, cuda)."""
    from upstage_assets.local_engine.learned.predict import WORD, WORD_THRESHOLD

    flips = []
    for text, line_cpu, line_cuda in zip(view.texts, cpu, cuda, strict=True):
        for match in WORD.finditer(text[:len(line_cpu)]):
            start, end = match.start(), min(match.end(), len(line_cpu))
            if end <= start:
                continue
            mean_cpu, mean_cuda = float(line_cpu[start:end, field].mean()), float(line_cuda[start:end, field].mean())
            crossed = (mean_cpu > WORD_THRESHOLD) != (mean_cuda > WORD_THRESHOLD)
            if crossed and abs(mean_cpu - mean_cuda) < margin:
                flips.append((match.group(), round(mean_cpu, 6), round(mean_cuda, 6)))
    return flips


class FieldTaggerCopy:
    """A second tagger with the same weights (moving the first would move the CPU one too)."""

    @staticmethod
    def of(tagger: Any) -> Any:
        from upstage_assets.local_engine.learned.model import FieldTagger

        config = dict(tagger.config)
        copy = FieldTagger(config.pop("fields"), **config)
        copy.load_state_dict(tagger.state_dict())
        return copy


def _device_metadata(entry: Any) -> str:
    """The ``device`` text gpu_executor put in a STEP_WORKER_STARTING event's metadata."""
    data = entry.dagster_event.event_specific_data if entry.dagster_event else None
    value = (getattr(data, "metadata", None) or {}).get("device")
    return str(getattr(value, "value", value))


def executor_run(corpus: Path, gpu_expected: bool) -> dict[str, Any]:
    from dagster import DagsterEventType, DagsterInstance, execute_job, reconstructable

    from upstage_assets.defs.executors import detect_devices

    with visible_devices(None):
        devices = detect_devices()
    check("detect_devices() with CUDA_VISIBLE_DEVICES unset (nvidia-smi)", bool(devices) == gpu_expected, devices)
    sys.path.insert(0, str(Path(__file__).parent))
    os.environ["PYTHONPATH"] = os.pathsep.join(
        [str(Path(__file__).parent), str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])
    from gpu_check_job import job_for_check

    out: dict[str, Any] = {"devices": devices}
    with tempfile.TemporaryDirectory() as tmp, visible_devices(None):
        home, records = Path(tmp, "dagster_home"), Path(tmp, "records")
        home.mkdir()
        records.mkdir()
        (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
        ops = {name: {"config": {"out_dir": str(records), "corpus": str(corpus)}}
               for name in ("gpu_training", "gpu_inference", "gpu_ocr", "untagged_training")}
        config = {"ops": ops, "execution": {"config": {"lock_dir": str(Path(tmp, "locks")), "sleep_seconds": 0.1}},
                  "loggers": {"console": {"config": {"log_level": "WARNING"}}}}
        started = time.monotonic()
        with DagsterInstance.local_temp(tempdir=str(home)) as instance, \
                execute_job(reconstructable(job_for_check), instance=instance, run_config=config) as result:
            out["run_seconds"] = round(time.monotonic() - started, 1)
            check("Dagster run through gpu_executor succeeded", result.success, f"{out['run_seconds']} s")
            starting = instance.all_logs(result.run_id, of_type=DagsterEventType.STEP_WORKER_STARTING)
            metadata = {e.step_key: _device_metadata(e) for e in starting if e.step_key}
            engine = [e.message or "" for e in instance.all_logs(result.run_id, of_type=DagsterEventType.ENGINE_EVENT)]
        seen = {p.stem: json.loads(p.read_text()) for p in records.glob("*.json")}
    out["event_device_metadata"], out["steps"] = metadata, seen
    gpu_steps = ("gpu_training", "gpu_inference", "gpu_ocr")
    want = f"GPU {devices[0]}" if devices else "cpu (fallback)"
    check("event metadata 'device' of the GPU-tagged steps", all(metadata.get(s) == want for s in gpu_steps),
          {s: metadata.get(s) for s in gpu_steps})
    check("event metadata 'device' of the untagged step", metadata.get("untagged_training") == "none (not a GPU step)",
          metadata.get("untagged_training"))
    if not devices:
        check("the run warned of the CPU fallback", any("no GPU on this machine" in m for m in engine), "")
    for step in gpu_steps:
        record = seen.get(step, {})
        expected = ("cuda:0", devices[0], "cuda") if devices else ("cpu", "", "cpu")
        check(f"{step}: UPSTAGE_ASSETS_DEVICE, CUDA_VISIBLE_DEVICES, select_device() in the step process",
              (record.get("upstage_assets_device"), record.get("cuda_visible_devices"),
               record.get("select_device")) == expected,
              {k: record.get(k) for k in ("upstage_assets_device", "cuda_visible_devices", "select_device",
                                          "cuda_device_count", "cuda_0_name", "pid")})
    train = seen.get("gpu_training", {})
    check("gpu_training step: fit()'s model card device", train.get("card_device") == ("cuda" if devices else "cpu"),
          {k: train.get(k) for k in ("card_device", "train_seconds", "final_loss", "train_documents")})
    infer = seen.get("gpu_inference", {})
    check("gpu_inference step: learned_fields ran with the weights on",
          infer.get("weights_on") == ("cuda:0" if devices else "cpu"),
          f"{infer.get('weights_on')}, fields {infer.get('fields_found')}")
    ocr = seen.get("gpu_ocr", {})
    check("gpu_ocr step: the local engine resource's OCR device and onnxruntime provider",
          ocr.get("parser_device") == ("cuda:0" if devices else "cpu"),
          {k: ocr.get(k) for k in ("parser_device", "ocr_provider")})
    untagged = seen.get("untagged_training", {})
    check("untagged step (like the kie_model asset): where fit() trained", None,
          {k: untagged.get(k) for k in ("cuda_visible_devices", "upstage_assets_device", "card_device",
                                        "cuda_available")})
    return out


def ocr(corpus: Path, gpu: bool, repeats: int) -> dict[str, Any]:
    import logging

    import cv2
    import onnxruntime as ort

    from upstage_assets.local_engine.ocr import get_engine, ocr_images

    warnings: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            warnings.append(record.getMessage())

    handler = Collect(logging.WARNING)
    logging.getLogger("upstage_assets.local_engine.ocr_models").addHandler(handler)
    document = sorted((corpus / "documents").iterdir())[0]
    loaded = cv2.imread(str(document))
    if loaded is None:
        raise ValueError(f"cannot read {document}")
    image = cv2.cvtColor(loaded, cv2.COLOR_BGR2RGB)
    out: dict[str, Any] = {"page": document.name, "providers": ort.get_available_providers()}
    texts = {}
    for device in ("cuda:0", None) if gpu else (None,):
        name = device or "cpu"
        out[f"{name}_provider"] = get_engine(device).provider
        ocr_images([image], device)  # warm-up (session build, CUDA kernels)
        started = time.monotonic()
        for _ in range(repeats):
            words = ocr_images([image], device)[0]
        out[f"{name}_seconds_per_page"] = round((time.monotonic() - started) / repeats, 3)
        texts[name] = " ".join(w.text for w in words)
        check(f"OCR with device={device!r}", None, f"provider {out[f'{name}_provider']}, "
              f"{out[f'{name}_seconds_per_page']} s/page ({len(words)} words, {repeats} runs)")
    out["warnings"] = warnings
    if gpu and "CUDAExecutionProvider" in out["providers"]:
        check("OCR with device='cuda:0' ran on onnxruntime's CUDA provider",
              out["cuda:0_provider"] == "CUDAExecutionProvider", out["cuda:0_provider"])
    elif gpu:
        check("onnxruntime here has no CUDA provider (onnxruntime-gpu not installed): cuda:0 fell back to "
              "the CPU provider with a warning", out["cuda:0_provider"] == "CPUExecutionProvider" and
              any("no CUDA provider" in w for w in warnings), warnings[:1])
    if gpu:
        check("OCR text with device='cuda:0' == text with the CPU", texts["cuda:0"] == texts["cpu"],
              f"{len(texts['cpu'])} characters")
    return out


def report(path: Path, results: dict[str, Any], command: str) -> None:
    env = results.get("environment", {})
    lines = ["# GPU path check", "",
             f"Machine: {env.get('nvidia_smi') or 'no nvidia-smi'}; Python {env.get('python')} "
             f"({env.get('machine')}), torch {env.get('torch')} (CUDA {env.get('torch_cuda')}), "
             f"onnxruntime {env.get('onnxruntime')} with {env.get('onnxruntime_providers')}.", "",
             f"Command: `{command}`", "", "| result | check | detail |", "|---|---|---|"]
    lines += [f"| {s} | {n} | {d.replace('|', '/')} |" for s, n, d in CHECKS]
    lines += ["", "Figures (JSON):", "", "```json", json.dumps(results, indent=1, default=str), "```", ""]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=ROOT.parent / "shared" / "corpus" / "receipts-train")
    parser.add_argument("--limit", type=int, default=40, help="documents for the model sections")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--ocr-repeats", type=int, default=3)
    parser.add_argument("--sections", default="env,model,executor,ocr")
    parser.add_argument("--out", type=Path, default=None, help="Markdown report")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    os.environ.setdefault("DAGSTER_DISABLE_TELEMETRY", "1")
    sections = set(args.sections.split(","))
    results: dict[str, Any] = {"environment": environment()}
    gpu = bool(results["environment"]["cuda_available"])
    steps = [("model", lambda: learned_model(args.corpus, args.limit, args.epochs, gpu)),
             ("executor", lambda: executor_run(args.corpus, gpu)),
             ("ocr", lambda: ocr(args.corpus, gpu, args.ocr_repeats))]
    for name, run in steps:
        if name not in sections:
            continue
        started = time.monotonic()
        try:
            results[name] = run()
        except Exception as exc:  # one broken section must not hide the others' results
            import traceback

            traceback.print_exc()
            check(f"section {name} raised", False, f"{type(exc).__name__}: {exc}")
        print(f"section {name}: {time.monotonic() - started:.1f} s", flush=True)
    command = "python bench/gpu_check.py " + " ".join(argv if argv is not None else sys.argv[1:])
    if args.out:
        report(args.out, results, command)
    if args.json:
        args.json.write_text(json.dumps(results, indent=1, default=str))
    failed = [name for status, name, _ in CHECKS if status == "FAIL"]
    print(f"{len(CHECKS) - len(failed)} checks passed or informational, {len(failed)} failed: {failed}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
