"""The Dagster job ``bench/gpu_check.py`` runs through ``gpu_executor``: what each step process saw.

Every op writes ``<out_dir>/<op>.json`` with the device environment its process was given
(``CUDA_VISIBLE_DEVICES``, ``UPSTAGE_ASSETS_DEVICE``), what torch sees there, and what the
project's own code did with it: ``fit`` (the function the ``kie_model`` asset calls) trains a
few epochs, ``learned_fields`` (the local KIE's model call) reads a page, and the local engine
resource plus ``get_engine`` pick the OCR device and onnxruntime provider. The GPU-tagged ops
carry ``gpu: "true"`` as the document pipeline's local-engine step does; ``untagged_training``
carries no tag, like the ``kie_model`` asset, to show what training does there.
"""

import json
import os
import time
from pathlib import Path
from typing import Any

from dagster import Config, OpExecutionContext, job, op

from upstage_assets.defs.executors import DEVICE_ENV, gpu_executor


class ProbeConfig(Config):
    out_dir: str
    corpus: str  # corpus layout: documents/, boxes/, labels/, schema.json
    limit: int = 12  # documents the in-step training reads (transcripts, no OCR)
    epochs: int = 2


def _torch_view() -> dict[str, Any]:
    import torch

    from upstage_assets.local_engine.learned.train import select_device

    seen: dict[str, Any] = {"cuda_available": torch.cuda.is_available(),
                            "cuda_device_count": torch.cuda.device_count() if torch.cuda.is_available() else 0,
                            "select_device": str(select_device())}
    if seen["cuda_available"]:
        seen["cuda_0_name"] = torch.cuda.get_device_name(0)
    return seen


def _write(context: OpExecutionContext, config: ProbeConfig, record: dict[str, Any]) -> None:
    record = {"op": context.op.name, "pid": os.getpid(), "cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES"),
              "upstage_assets_device": os.environ.get(DEVICE_ENV), **_torch_view(), **record}
    Path(config.out_dir, f"{context.op.name}.json").write_text(json.dumps(record, default=str))
    context.add_output_metadata({"device_seen": str(record["select_device"]),
                                 "cuda_visible_devices": str(record["cuda_visible_devices"])})


def _train(config: ProbeConfig) -> dict[str, Any]:
    from upstage_assets.local_engine.learned.fit import fit
    from upstage_assets.local_engine.learned.train import TrainConfig
    from upstage_assets.local_engine.learned.training_set import from_corpus

    training_set = from_corpus(Path(config.corpus), text="transcripts", limit=config.limit)
    started = time.monotonic()
    model, curve = fit(training_set, TrainConfig(epochs=config.epochs))
    return {"card_device": model.card["device"], "train_seconds": round(time.monotonic() - started, 2),
            "final_loss": curve[-1]["train_loss"], "train_documents": len(training_set.train)}


@op(tags={"gpu": "true"})
def gpu_training(context: OpExecutionContext, config: ProbeConfig) -> None:
    _write(context, config, _train(config))


@op(tags={"gpu": "true"})
def gpu_inference(context: OpExecutionContext, config: ProbeConfig) -> None:
    """The local KIE's model call on one page read from its transcript; which device held the weights."""
    from upstage_assets.local_engine.learned.catalog import model_for_schema
    from upstage_assets.local_engine.learned.corpus import corpus_files, corpus_schema
    from upstage_assets.local_engine.learned.extract import learned_fields
    from upstage_assets.local_engine.learned.training_set import schema_name_and_properties
    from upstage_assets.local_engine.learned.transcripts import parse_from_transcripts

    corpus = Path(config.corpus)
    _, properties = schema_name_and_properties(corpus_schema(corpus))
    document, _ = corpus_files(corpus)[0]
    parsed = parse_from_transcripts(corpus / "boxes" / f"{document.stem}.csv", document.read_bytes())
    found = learned_fields(parsed, properties)
    model = model_for_schema(properties)
    weights_on = str(next(model.tagger.parameters()).device) if model is not None else "no model"
    _write(context, config, {"fields_found": sorted(found), "weights_on": weights_on})


@op(tags={"gpu": "true"})
def gpu_ocr(context: OpExecutionContext, config: ProbeConfig) -> None:
    """The device the local engine resource gives its parser, and the OCR provider onnxruntime runs on."""
    from upstage_assets.local_engine.ocr import get_engine
    from upstage_assets.resources.local_engine import LocalEngineResource

    parser = LocalEngineResource(max_workers=1).create_parser()
    try:
        device = parser.device  # type: ignore[attr-defined]
    finally:
        import asyncio

        asyncio.run(parser.aclose())
    _write(context, config, {"parser_device": device, "ocr_provider": get_engine(device).provider})


@op
def untagged_training(context: OpExecutionContext, config: ProbeConfig) -> None:
    """No ``gpu`` tag (as the ``kie_model`` asset has none): no device is leased for this step."""
    _write(context, config, _train(config))


@job(executor_def=gpu_executor)
def gpu_check_job() -> None:
    gpu_training()
    gpu_inference()
    gpu_ocr()
    untagged_training()


def job_for_check() -> Any:
    return gpu_check_job
