"""The real broken and unusual PDFs of the shared robustness corpus, with what each must become.

The corpus lives next to the repository (``../shared/corpus/robustness``) and is never copied
into it; files are copied into a temporary inbox per run. Expectations come from its index
CSVs: a file with an open (user) password must be refused as encrypted; an owner-password-only
file opens without one and is processed; anything else is processed or refused with a specific
code — never a crash, never a generic error, never a stuck document.
"""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

from upstage_assets_tests.reliability.bad_inputs import BadInput

CORPUS = Path(__file__).resolve().parents[2] / ".." / "shared" / "corpus" / "robustness"
# Codes a broken or unusual file may legitimately end with (anything else is a defect).
SPECIFIC_CODES = frozenset({"corrupt_document", "encrypted_document", "too_many_pages", "too_many_pixels",
                            "unsupported_type", "too_large", "upstage_corrupt_document",
                            "upstage_unsupported_type"})


def corpus_available() -> bool:
    return (CORPUS / "index_pdfjs.csv").is_file()


def _expectation(row: dict[str, str]) -> str | None:
    """``encrypted_document`` for a user password, None (processed) or 'any' otherwise."""
    tags = row.get("tags", "")
    if row.get("password") or "openpassword" in tags:
        return "encrypted_document"
    return None if row.get("category") == "encrypted" or row.get("encrypted") == "True" else "any"


def copy_corpus(inbox: Path, max_bytes: int = 2 * 1024 * 1024) -> dict[str, BadInput]:
    """Copy every indexed file (up to ``max_bytes``) into ``inbox``; return the cases by inbox key."""
    cases = {}
    for index in ("index_pdfjs.csv", "index_pypdf.csv"):
        with (CORPUS / index).open(newline="", encoding="utf-8") as fh:
            for row in csv.DictReader(fh):
                source = CORPUS / row["file"]
                if not source.is_file() or source.stat().st_size > max_bytes:
                    continue
                target = inbox / row["file"]
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(source, target)
                expected = _expectation(row)
                cases[row["file"]] = BadInput(row["file"], expected, refused_before_api=expected is not None
                                              and expected != "any")
    return cases


def judge_corpus(report, cases: dict[str, BadInput]) -> list[str]:  # type: ignore[no-untyped-def]
    problems = []
    for key, case in cases.items():
        got = report.outcomes.get(key)
        if got is None:
            problems.append(f"{key}: no outcome")
        elif case.expected == "encrypted_document" and got.error_code != "encrypted_document":
            problems.append(f"{key}: has a user password, got {got.error_code} ({got.message})")
        elif case.expected is None and not got.parsed and got.error_code != "encrypted_document":
            # Owner-password-only files open without a password, except where pdfium disagrees with
            # pdf.js (print_protection.pdf, AES-256 R6): then a clear encrypted_document refusal is right.
            problems.append(f"{key}: owner-password-only, expected processed; got {got.error_code} ({got.message})")
        elif got.error_code is not None and got.error_code not in SPECIFIC_CODES:
            problems.append(f"{key}: generic error {got.error_code} ({got.message})")
        elif got.error_code is None and not got.parsed:
            problems.append(f"{key}: neither processed nor failed")
    return problems
