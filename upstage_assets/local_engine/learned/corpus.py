"""Labelled documents from a corpus folder: documents/<id>.<ext>, labels/<id>.json, schema.json.

The human-label source of a training set. Each document is parsed by the local engine
(through the parse cache) so the model trains on the same text and boxes it will see in
the pipeline; labels are matched by file stem.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from upstage_assets.ingest.naming import sha256_hex
from upstage_assets.inspection import sniff_mime_type
from upstage_assets.local_engine.learned.parse_cache import ParseCache


@dataclass
class LabelledDocument:
    """One document's parse and its expected values; ``source`` says where the labels came from."""

    document_id: str  # the SHA-256 of the bytes: the same document under two names is one example
    name: str
    parsed: dict[str, Any]
    labels: dict[str, Any]
    source: str  # "labels" (human) or "pseudo" (an API's answers)


def corpus_schema(corpus: Path) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((corpus / "schema.json").read_text())
    return loaded


def corpus_files(corpus: Path) -> list[tuple[Path, Path]]:
    """(document, label) pairs, sorted by name; documents without a label are skipped."""
    pairs = []
    for path in sorted((corpus / "documents").iterdir()):
        label = corpus / "labels" / f"{path.stem}.json"
        if path.is_file() and label.exists():
            pairs.append((path, label))
    return pairs


def iter_corpus(corpus: Path, cache: ParseCache | None = None, limit: int | None = None,
                progress: Callable[[int, int, float], None] | None = None) -> Iterator[LabelledDocument]:
    """Parse (or read from the cache) each labelled document of the corpus."""
    cache = cache or ParseCache()
    pairs = corpus_files(corpus)[: limit or None]
    started = time.monotonic()
    for index, (path, label_path) in enumerate(pairs):
        data = path.read_bytes()
        parsed = cache.parse(data, sniff_mime_type(data))
        if progress:
            progress(index + 1, len(pairs), time.monotonic() - started)
        yield LabelledDocument(sha256_hex(data), path.name, parsed, json.loads(label_path.read_text()), "labels")


def main(argv: list[str] | None = None) -> int:
    """Fill the parse cache for corpus folders: ``python -m upstage_assets.local_engine.learned.corpus DIR...``."""
    import argparse

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("corpora", nargs="+", type=Path)
    parser.add_argument("--limit", type=int, default=None)
    args = parser.parse_args(argv)

    def report(done: int, total: int, seconds: float) -> None:
        if done % 20 == 0 or done == total:
            print(f"parsed {done}/{total} in {seconds:.0f} s", flush=True)

    for corpus in args.corpora:
        for _ in iter_corpus(corpus, limit=args.limit, progress=report):
            pass
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
