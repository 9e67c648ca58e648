"""The PP-OCR detection and recognition models, as onnxruntime sessions on the CPU or a GPU.

The models are data files shipped inside a PyPI wheel (``rapidocr`` 3.10 carries PP-OCRv6
small); the project runs them itself, so no library internals are involved and nothing is
downloaded. ``UPSTAGE_ASSETS_OCR_MODELS`` picks the set (``ppocrv6``, the default, or
``ppocrv4`` where ``rapidocr-onnxruntime`` 1.4.4 is installed, for comparison). When the step
has a CUDA device and onnxruntime's CUDA provider is installed (``onnxruntime-gpu``, the
``cuda`` extra), the sessions run on it; otherwise on the CPU.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

MODELS_ENV = "UPSTAGE_ASSETS_OCR_MODELS"
DEFAULT_MODELS = "ppocrv6"


@dataclass(frozen=True)
class ModelSet:
    package: str  # the wheel that ships the files (located, never imported)
    detector: str
    recogniser: str
    recognition_height: int  # the recogniser's input height (PP-OCRv4 read best at 44 px here)
    direction: str  # the 0/180 text-direction classifier


MODEL_SETS = {
    "ppocrv6": ModelSet("rapidocr", "models/PP-OCRv6_det_small.onnx", "models/PP-OCRv6_rec_small.onnx", 48,
                        "models/ch_ppocr_mobile_v2.0_cls_mobile.onnx"),
    "ppocrv4": ModelSet("rapidocr_onnxruntime", "models/ch_PP-OCRv4_det_infer.onnx",
                        "models/ch_PP-OCRv4_rec_infer.onnx", 44, "models/ch_ppocr_mobile_v2.0_cls_infer.onnx"),
}


@dataclass
class OcrModels:
    name: str
    detector: Any  # onnxruntime.InferenceSession
    recogniser: Any
    charset: list[str]  # index -> character; 0 is the CTC blank
    recognition_height: int
    provider: str  # the execution provider the sessions run on
    direction: Any = None  # classifier: (N, 3, 48, 192) line crops -> (N, 2) scores for 0 and 180 degrees

    def __post_init__(self) -> None:
        # A session is thread-safe, but one engine call at a time keeps memory flat.
        self.lock = threading.Lock()


def model_file(models: ModelSet, relative: str) -> Path:
    spec = importlib.util.find_spec(models.package)
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(f"the OCR models need the {models.package!r} package installed")
    return Path(list(spec.submodule_search_locations)[0]) / relative


def providers_for(device: str | None) -> list[Any]:
    """onnxruntime providers for a device: CUDA first when asked for and installed, else the CPU."""
    if device and device.startswith("cuda"):
        import onnxruntime as ort

        if "CUDAExecutionProvider" in ort.get_available_providers():
            index = int(device.split(":", 1)[1]) if ":" in device else 0
            return [("CUDAExecutionProvider", {"device_id": index}), "CPUExecutionProvider"]
        logger.warning("device %s requested but onnxruntime has no CUDA provider here; OCR runs on the CPU", device)
    return ["CPUExecutionProvider"]


def _session(path: Path, providers: list[Any]) -> Any:
    import onnxruntime as ort

    options = ort.SessionOptions()
    threads = int(os.environ.get("UPSTAGE_OCR_THREADS", "-1"))
    if threads > 0:
        options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    options.enable_cpu_mem_arena = False  # page sizes vary: an arena only grows
    return ort.InferenceSession(str(path), sess_options=options, providers=providers)


def load_models(device: str | None = None, name: str | None = None) -> OcrModels:
    name = name or os.environ.get(MODELS_ENV, DEFAULT_MODELS)
    if name not in MODEL_SETS:
        raise ValueError(f"{MODELS_ENV}={name!r}; expected one of {', '.join(MODEL_SETS)}")
    models = MODEL_SETS[name]
    providers = providers_for(device)
    detector = _session(model_file(models, models.detector), providers)
    recogniser = _session(model_file(models, models.recogniser), providers)
    characters = recogniser.get_modelmeta().custom_metadata_map["character"].splitlines()
    charset = ["", *characters, " "]  # CTC blank first; the models' last class is the space
    classes = recogniser.get_outputs()[0].shape[-1]
    if isinstance(classes, int) and classes != len(charset):
        raise RuntimeError(f"{name} recogniser has {classes} classes but {len(charset)} characters")
    return OcrModels(name, detector, recogniser, charset, models.recognition_height,
                     provider=recogniser.get_providers()[0],
                     direction=_session(model_file(models, models.direction), providers))
