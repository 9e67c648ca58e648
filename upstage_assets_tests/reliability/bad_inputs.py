"""Bad and unusual input, generated here: what each case is, and what the platform must say.

``expected`` is the error code recorded against the document, or None where the platform
decides the input is fine (an owner-password-only PDF opens without a password: its
permission flags restrict printing/copying in viewers, not reading, so it is processed; a
PDF named ``.png`` is read as the PDF its bytes say it is; a name with backslashes and ``..``
cannot be addressed safely by the object stores, so it is refused at registration: rename it).
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

from fpdf import FPDF

GIB = 1024 ** 3


@dataclass(frozen=True)
class BadInput:
    filename: str
    expected: str | None  # error code, None = processed normally
    stage: str = "raw_documents"  # where it is refused ("inbox": at registration, never read)
    refused_before_api: bool = True


def pdf_bytes(pages: int = 1, *, text: str = "Invoice No: RB-0001  Total: 10.00 USD",
              user_password: str | None = None, owner_password: str | None = None) -> bytes:
    pdf = FPDF()
    pdf.set_font("helvetica", size=9)
    for page in range(pages):
        pdf.add_page()
        pdf.cell(text=f"{text} (page {page + 1})")
    if owner_password or user_password:
        pdf.set_encryption(owner_password=owner_password or "owner", user_password=user_password or "")
    return bytes(pdf.output())


def png_header_only(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims ``width`` x ``height`` pixels: a decompression bomb."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00" * 1024))
            + chunk(b"IEND", b""))


def write_bad_inputs(folder: Path, *, sparse_bytes: int = GIB) -> dict[str, BadInput]:
    """Write every generated case into ``folder``; return them by filename."""
    folder.mkdir(parents=True, exist_ok=True)
    cases: dict[str, tuple[bytes | None, BadInput]] = {}

    def add(name: str, data: bytes | None, expected: str | None, **kw: object) -> None:
        cases[name] = (data, BadInput(name, expected, **kw))  # type: ignore[arg-type]

    add("empty.pdf", b"", "empty_document", stage="inbox")
    add("truncated.pdf", pdf_bytes(text="truncated")[:200], "corrupt_document")
    add("locked-user-password.pdf", pdf_bytes(text="locked", user_password="s3cret"), "encrypted_document")
    add("owner-password-only.pdf", pdf_bytes(text="Invoice No: RB-0002 owner only", owner_password="own"),
        None, refused_before_api=False)
    add("really-a-pdf.png", pdf_bytes(text="Invoice No: RB-0003 wrong extension"), None, refused_before_api=False)
    add("saved-web-page.pdf", b"<!DOCTYPE html>\n<html><head><title>Invoice</title></head>"
        b"<body><h1>Invoice RB-0004</h1></body></html>\n", "unsupported_type")
    add("2500-pages.pdf", pdf_bytes(2500, text="long"), "too_many_pages")
    add("bomb.png", png_header_only(60_000, 60_000), "too_many_pixels")
    add("sparse-1gb.pdf", None, "too_large", stage="inbox")
    add("back\\slash\\..\\..\\name.pdf", pdf_bytes(text="Invoice No: RB-0005 backslashes"), "unsafe_name",
        stage="inbox")
    add("영수증 2024 ①.pdf", pdf_bytes(text="Invoice No: RB-0006 korean name"), None, refused_before_api=False)
    add("facture-é-ünïcödé.pdf", pdf_bytes(text="Invoice No: RB-0007 unicode name"), None,
        refused_before_api=False)
    for name, (data, _) in cases.items():
        path = folder / name
        if data is None:  # a sparse file: 1 GB long, no blocks on disk
            with path.open("wb") as fh:
                fh.truncate(sparse_bytes)
        else:
            path.write_bytes(data)
    return {name: case for name, (_, case) in cases.items()}
