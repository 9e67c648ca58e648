"""Hand-built Document Parse responses for the learned-extractor tests."""

from __future__ import annotations

from typing import Any


def element(i: int, text: str, y: float, category: str = "paragraph", x0: float = 0.05, x1: float = 0.6,
            height: float = 0.03) -> dict[str, Any]:
    lines = text.count("\n") + 1
    return {"id": i, "category": category, "page": 1, "content": {"text": text, "html": "", "markdown": text},
            "coordinates": [{"x": x0, "y": y}, {"x": x1, "y": y}, {"x": x1, "y": y + height * lines},
                            {"x": x0, "y": y + height * lines}]}


def response(*elements: dict[str, Any]) -> dict[str, Any]:
    return {"api": "2.0", "model": "test", "content": {"text": "\n".join(e["content"]["text"] for e in elements)},
            "elements": list(elements), "usage": {"pages": 1}}


RECEIPT = response(
    element(0, "OFFICIAL RECEIPT", 0.02, "heading1"),
    element(1, "KEDAI RUNCIT MAJU SDN BHD", 0.06, "heading1"),
    element(2, "NO 12, JALAN BESAR,\nTAMAN MELATI, 53100 KUALA LUMPUR", 0.10),
    element(3, "TEL: 03-4141 2020", 0.17),
    element(4, "Bill No:  CS10023\nDate:  03/04/2019 10:22", 0.21),
    element(5, "SUB TOTAL  18.00\nGST 6%  1.08\nTOTAL  RM 19.08\nCASH  20.00\nCHANGE  0.92", 0.40),
)
