"""A cache of local Document Parse results, keyed by the document's bytes and the engine's code.

OCR is the slow part of building a training set (1-3 s per receipt on two cores), and the
same 500 receipts are parsed again every time a model is retrained. Each entry is one
gzipped JSON file named by the SHA-256 of the document under a folder named by the engine
fingerprint: the versions of the OCR/PDF libraries plus a hash of the local engine's own
source files, so any change to what the parse would answer starts a fresh folder instead
of serving stale text.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import tempfile
from functools import lru_cache
from importlib import metadata
from pathlib import Path
from typing import Any

from upstage_assets.ingest.naming import sha256_hex

# Every local-engine module decides what a parse answers, except the extractor's and the classifier's.
EXTRACTOR_MODULES = ("kie.py", "field_matching.py", "normalize.py", "line_items.py", "classify.py")
ENGINE_DISTRIBUTIONS = ("rapidocr", "rapidocr-onnxruntime", "onnxruntime", "pypdfium2")
DEFAULT_CACHE_DIR = Path("data") / "cache" / "parse"


@lru_cache(maxsize=1)
def engine_fingerprint() -> str:
    """Short hash of the library versions and engine source that produce a parse."""
    digest = hashlib.sha256()
    for name in ENGINE_DISTRIBUTIONS:
        try:
            digest.update(f"{name}=={metadata.version(name)};".encode())
        except metadata.PackageNotFoundError:
            continue
    engine_dir = Path(__file__).resolve().parent.parent
    for path in sorted(engine_dir.glob("*.py")):
        if path.name not in EXTRACTOR_MODULES:
            digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def cache_dir_from_env() -> Path:
    return Path(os.environ.get("UPSTAGE_ASSETS_PARSE_CACHE", str(DEFAULT_CACHE_DIR)))


class ParseCache:
    """get-or-parse for local Document Parse responses (text format only, with coordinates)."""

    def __init__(self, root: Path | None = None):
        self.root = (root or cache_dir_from_env()) / engine_fingerprint()

    def _path(self, sha256: str) -> Path:
        return self.root / f"{sha256}.json.gz"

    def get(self, sha256: str) -> dict[str, Any] | None:
        path = self._path(sha256)
        if not path.exists():
            return None
        with gzip.open(path, "rt", encoding="utf-8") as fh:
            loaded: dict[str, Any] = json.load(fh)
        return loaded

    def put(self, sha256: str, parsed: dict[str, Any]) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.root, suffix=".tmp")
        with os.fdopen(fd, "wb") as raw, gzip.open(raw, "wt", encoding="utf-8") as fh:
            json.dump(parsed, fh, ensure_ascii=False)
        os.replace(tmp, self._path(sha256))  # atomic: a killed run never leaves half an entry

    def parse(self, data: bytes, mime_type: str) -> dict[str, Any]:
        """The cached parse of these bytes, parsing (and storing) on a miss."""
        from upstage_assets.local_engine.document_parse import parse_document

        key = sha256_hex(data)
        cached = self.get(key)
        if cached is not None:
            return cached
        parsed = parse_document(data, mime_type=mime_type, output_formats=("text",))
        self.put(key, parsed)
        return parsed
