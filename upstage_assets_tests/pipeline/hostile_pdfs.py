"""PDFs made by hand to carry what real text layers carry: any UTF-16 mapping a font's ToUnicode says."""

from __future__ import annotations


def pdf_with_tounicode(mapping: dict[int, str], text: bytes, extra_text: str = "Invoice") -> bytes:
    """A one-page PDF whose Helvetica codes map to arbitrary UTF-16BE hex units through ToUnicode.

    ``mapping`` is byte code -> hex units ("D800" is a lone high surrogate, "D835DC4E" the pair for
    U+1D44E). ``extra_text`` is drawn with a plain font so the page has a normal text layer too.
    """
    entries = [f"<{code:02X}> <{units}>" for code, units in mapping.items()]
    cmap = ("/CIDInit /ProcSet findresource begin 12 dict begin begincmap /CMapName /Hostile def "
            "1 begincodespacerange <00> <FF> endcodespacerange\n"
            f"{len(entries)} beginbfchar\n" + "\n".join(entries) + "\nendbfchar\n"
            "endcmap CMapName currentdict /CMap defineresource pop end end").encode()
    content = (b"BT /F2 14 Tf 72 740 Td (" + extra_text.encode("latin-1") + b") Tj ET "
               b"BT /F1 24 Tf 72 700 Td (" + text + b") Tj ET")
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] "
        b"/Resources << /Font << /F1 4 0 R /F2 7 0 R >> >> /Contents 5 0 R >>",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /ToUnicode 6 0 R >>",
        b"<< /Length %d >>\nstream\n" % len(content) + content + b"\nendstream",
        b"<< /Length %d >>\nstream\n" % len(cmap) + cmap + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    for offset in offsets:
        out += b"%010d 00000 n \n" % offset
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


# Lone surrogates (high and low), a valid pair (MATHEMATICAL ITALIC SMALL A), a plane-15
# private-use character (a pair as well) and NUL.
SURROGATE_MAPPING = {0x41: "D800", 0x42: "D835DC4E", 0x43: "DFFF", 0x44: "DB80DC01", 0x45: "0000", 0x46: "0048"}
SURROGATE_TEXT = b"FAFBFCFDFEF BBB DDD AAA"


def surrogate_pdf(tag: str = "") -> bytes:
    return pdf_with_tounicode(SURROGATE_MAPPING, SURROGATE_TEXT, extra_text=f"Invoice {tag}".strip())
