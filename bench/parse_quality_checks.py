"""The checks of ``parse_quality.py``, written by looking at rendered pages of ../shared/corpus/.

Four kinds, as in public document-parsing benchmarks: ``text`` (a sentence is present),
``absent`` (a running header or footer is not in the Markdown body), ``order`` (A comes
before B) and ``table`` (a table cell has the given neighbours). ``tags`` name the defect a
check probes (hyphenation, columns, rotation, rtl, scan, ocr-fallback, merged-cells ...).

A document is a corpus path; ``rotate`` turns an image document by that many degrees
counter-clockwise first (a scan fed in sideways or upside down).
"""

from __future__ import annotations

from typing import Any

TRACEMONKEY = "robustness/pdfjs/multicolumn/tracemonkey.pdf"
TAM = "robustness/pdfjs/multicolumn/TAMReview.pdf"
MULTICOLUMN = "robustness/py-pdf-sample-files/026-latex-multicolumn/multicolumn.pdf"
LATEX4 = "robustness/py-pdf-sample-files/004-pdflatex-4-pages/pdflatex-4-pages.pdf"
GEOTOPO = "robustness/py-pdf-sample-files/009-pdflatex-geotopo/GeoTopo-komprimiert.pdf"
GDOC = "robustness/py-pdf-sample-files/011-google-doc-document/google-doc-document.pdf"
HABIBI = "robustness/py-pdf-sample-files/015-arabic/habibi.pdf"
HABIBI_ROTATED = "robustness/py-pdf-sample-files/015-arabic/habibi-rotated.pdf"
ROTATION = "robustness/pdfjs/rotated/rotation.pdf"
HELLO_ROTATED = "robustness/pdfjs/rotated/hello_world_rotated.pdf"
PR20043 = "robustness/pdfjs/rotated/pr20043.pdf"
ISSUE14415 = "robustness/pdfjs/rotated/issue14415.pdf"
ISSUE14497 = "robustness/pdfjs/rotated/issue14497.pdf"
SCAN5747 = "robustness/pdfjs/scanned/issue5747.pdf"
AZURE = "invoices/documents/AzureInterior.pdf"
NETPRESSE = "invoices/documents/NetpresseInvoice.pdf"
SAMMY = "invoices/documents/SammyMaystoneLinesTest.pdf"
SAMMY_PNG = "invoices/documents/SammyMaystoneLinesTest.png"
KOREAN = "korean/unstructured_examples/korean-text-with-tables.pdf"
FORM_STYLE = "forms/documents/82253245_3247.png"  # scanned progress report, two ruled tables
FORM_OLD_GOLD = "forms/documents/83641919_1921.png"  # the same form filled by another office


def _t(doc: str, text: str, *tags: str, rotate: int = 0) -> dict[str, Any]:
    return {"doc": doc, "kind": "text", "text": text, "tags": list(tags), "rotate": rotate}


def _absent(doc: str, text: str, *tags: str) -> dict[str, Any]:
    return {"doc": doc, "kind": "absent", "text": text, "tags": list(tags), "rotate": 0}


def _order(doc: str, before: str, after: str, *tags: str, rotate: int = 0) -> dict[str, Any]:
    return {"doc": doc, "kind": "order", "before": before, "after": after, "tags": list(tags), "rotate": rotate}


def _table(doc: str, cell: str, *tags: str, rotate: int = 0, **neighbours: str) -> dict[str, Any]:
    return {"doc": doc, "kind": "table", "cell": cell, "neighbours": neighbours, "tags": list(tags),
            "rotate": rotate}


CHECKS: list[dict[str, Any]] = [
    # --- text present -------------------------------------------------------------------
    _t(TRACEMONKEY, "Dynamic languages such as JavaScript are more difficult to compile than statically "
       "typed ones.", "hyphenation", "columns"),
    _t(TRACEMONKEY, "We present an alternative compilation technique for dynamically-typed languages",
       "hyphenation"),
    _t(TRACEMONKEY, "Trace-based Just-in-Time Type Specialization for Dynamic Languages", "title"),
    _t(TRACEMONKEY, "Nested loops can be difficult to optimize for tracing VMs.", "columns"),
    _t(TRACEMONKEY, "we need to maximize time spent in the darkest box and minimize time spent in the white "
       "boxes.", "caption"),
    _t(MULTICOLUMN, "Lorem ipsum dolor sit amet, consectetuer adipiscing elit.", "hyphenation", "columns"),
    _t(MULTICOLUMN, "Pellentesque habitant morbi tristique senectus et netus et malesuada fames ac turpis "
       "egestas.", "hyphenation", "columns"),
    _t(LATEX4, "Is there a difference between this text and some nonsense like \u201cHuardest gefburn\u201d?",
       "paragraph"),
    _t(GDOC, "Special cases aren't special enough to break the rules.", "paragraph"),
    _t(GDOC, "There should be one-- and preferably only one --obvious way to do it.", "paragraph"),
    _t(GEOTOPO, "Das Paar (X, d) hei\u00dft ein metrischer Raum.", "paragraph"),
    _t(GEOTOPO, "Metrische R\u00e4ume sind hausdorffsch, wegen", "paragraph"),
    _t(ROTATION, "This is my second page. It will have a landscape layout.", "rotation"),
    _t(HELLO_ROTATED, "Hello world", "rotation"),
    _t(PR20043, "I am a lowly PDF file created in Microsoft Word 2016.", "rotation"),
    _t(ISSUE14415, "This agreement hereby states that both [Client. Company] and [Sender.Company] have the "
       "authority", "rotation"),
    _t(ISSUE14497, "DAVID HELLIG & ABRAHAMSE - PROFESSIONAL LAND SURVEYORS", "rotation"),
    _t(HABIBI, "\u062d\u064e\u0628\u064a\u0628\u064a", "rtl"),
    _t(HABIBI_ROTATED, "\u062d\u064e\u0628\u064a\u0628\u064a", "rtl", "rotation"),
    _t(HABIBI, "habibi", "rtl"),
    _t(AZURE, "Due to global inflation our payment term has changed to 15 days.", "invoice"),
    _t(NETPRESSE, "Vous pouvez r\u00e9gler directement cette annonce en ligne en cliquant sur le lien",
       "invoice"),
    _t(KOREAN, "\ub9e4\uc6d4 1\uc77c\ubd80\ud130 \ub9d0\uc77c\uae4c\uc9c0 \uc774\uc6a9\ud55c \uc77c\uc2dc\ubd88 "
       "\ubc0f \ud560\ubd80 \uc774\uc6a9\uae08\uc561", "korean"),
    _t(TAM, "for over two decades. Although many models have been proposed to explain and predict the use",
       "ocr-fallback"),
    _t(TAM, "Davis proposed the Technology Acceptance Model (TAM) in his doctoral thesis", "ocr-fallback"),
    _t(SCAN5747, "sed diam nonumy eirmod tempor", "scan", "rotation"),
    _t(SAMMY_PNG, "All names are fictitious and in no way represent real people or places.", "scan"),
    _t(SAMMY_PNG, "All names are fictitious and in no way represent real people or places.", "scan", "rotation",
       rotate=90),
    _t(SAMMY_PNG, "All names are fictitious and in no way represent real people or places.", "scan", "rotation",
       rotate=180),
    _t(SAMMY_PNG, "Notes: Removed debris from case", "scan", "rotation", rotate=270),
    # --- running headers, footers and page numbers absent ------------------------------
    _absent(GEOTOPO, "1.2. METRISCHE R\u00c4UME", "header"),
    _absent(GEOTOPO, "2.3. SIMPLIZIALKOMPLEX", "header"),
    _absent(GEOTOPO, "3.3. \u00dcBERLAGERUNGEN", "header"),
    _absent(GEOTOPO, "4.1. AXIOME F\u00dcR DIE EUKLIDISCHE EBENE", "header"),
    _absent(GEOTOPO, "5.4. ERSTE UND ZWEITE FUNDAMENTALFORM", "header"),
    _absent(GEOTOPO, "102 L\u00f6sungen der \u00dcbungsaufgaben", "header"),
    _absent(AZURE, "Page: 1 / 1", "page-number"),
    _absent(NETPRESSE, "Facture n\u00b0 2022089083 - Page 1/1", "footer"),
    _absent(TAM, "Sprouts - http://sprouts.aisnet.org/9-37", "footer"),
    _absent(TAM, "M Y Chuttur", "header"),
    # --- reading order ------------------------------------------------------------------
    _order(TRACEMONKEY, "Trace-based Just-in-Time Type Specialization", "Abstract", "title"),
    _order(TRACEMONKEY, "example, is the de facto standard for client-side web programming",
           "and is used for the application logic of browser-based productivity", "columns"),
    _order(TRACEMONKEY, "Dynamic languages such as JavaScript are more difficult",
           "Compilers for statically typed languages rely on type", "columns"),
    _order(TRACEMONKEY, "cache. Alternatively, the VM could simply stop tracing",
           "We solve the nested loop problem by recording nested trace", "columns"),
    _order(TRACEMONKEY, "In Section 7 we evaluate our dynamic compiler based on",
           "a set of industry benchmarks. The paper ends with conclusions", "columns"),
    _order(MULTICOLUMN, "Two-Column Document with Lorem Ipsum", "Abstract", "title"),
    _order(MULTICOLUMN, "This is a sample document with two columns filled",
           "Lorem ipsum dolor sit amet, consectetuer", "columns"),
    _order(MULTICOLUMN, "Vivamus viverra fermentum felis. Donec nonummy",
           "pellentesque ante. Phasellus adipiscing semper elit.", "columns"),
    _order(MULTICOLUMN, "tincidunt urna. Nulla ullamcorper vestibulum turpis.",
           "molestie vitae, placerat a, molestie nec, leo.", "columns"),
    _order(ROTATION, "This is my second page. It will have a landscape layout.", "Second line here.", "rotation"),
    _order(ISSUE14415, "legally necessary to enter into this binding agreement",
           "Signatures on this page from [Client. Company]", "rotation"),
    _order(AZURE, "Invoice INV/2023/03/0008", "Office Chair", "invoice"),
    _order(AZURE, "Total $ 279.84", "Please use the following communication for your payment", "invoice"),
    _order(GDOC, "Example document", "Beautiful is better than ugly.", "title"),
    _order(GDOC, "Namespaces are one honking great idea", "Continent", "table"),
    _order(GEOTOPO, "Definition 10", "Bemerkung 4 (Trennungseigenschaft)", "paragraph"),
    _order(KOREAN, "\uc8fc\uc720\ub294 LPG\ucda9\uc804\uc18c \ud3ec\ud568",
           "\ucee4\ud53c\uc804\ubb38\uc810 \uc2a4\ud0c0\ubc85\uc2a4", "columns", "korean"),
    _order(KOREAN, "\ub9e4\uc6d4 1\uc77c\ubd80\ud130 \ub9d0\uc77c\uae4c\uc9c0",
           "\ubb34\uc774\uc790\ud560\ubd80, \ub2e4\uc774\uc5b4\ud2b8\ud560\ubd80", "columns", "korean"),
    _order(SAMMY_PNG, "Service A", "Service B", "scan", "rotation", rotate=90),
    _order(TAM, "Abstract", "Introduction", "ocr-fallback"),
    # --- tables -------------------------------------------------------------------------
    _table(GDOC, "Jakarta", "merged-cells", left="Capital", right="Berlin", up="Asia"),
    _table(GDOC, "Vienna", "merged-cells", left="Berlin", right="Paris", top_heading="Austria"),
    _table(GDOC, "Rupia", "merged-cells", left="Currency", right="EUR (\u20ac)"),
    _table(GDOC, "Vatican City", "merged-cells", left="Paris", up="Europe", down="-"),
    _table(MULTICOLUMN, "Belgium", "ruled", right="11.5", down="Czech Republic"),
    _table(MULTICOLUMN, "Vienna", "ruled", top_heading="Capital", left="83,879"),
    _table(MULTICOLUMN, "338,424", "ruled", left="5.5", right="Helsinki"),
    _table(AZURE, "70.00", "invoice", top_heading="Unit Price", left="1.00 Units"),
    _table(AZURE, "$ 150.00", "invoice", top_heading="Amount"),
    _table(NETPRESSE, "Justificatif PDF", "ruled", right="1", up="le-tout-lyon.fr du 06/12/2022"),
    _table(NETPRESSE, "0,75 \u20ac", "ruled", top_heading="P.U. HT"),
    _table(SAMMY, "Service A", "invoice", right="12"),
    _table(SAMMY, "$120.00", "invoice", top_heading="Amount", left="$10.00"),
    _table(KOREAN, "\uc8fc\uc720", "korean", right="\ubaa8\ub4e0 \uc8fc\uc720\uc18c"),
    _table(KOREAN, "\ud3b8\uc758\uc810", "korean", right="CU, GS25, \uc138\ube10\uc77c\ub808\ube10, "
           "\ubbf8\ub2c8\uc2a4\ud1b1"),
    _table(SAMMY_PNG, "Service B", "scan", right="5"),
    _table(FORM_STYLE, "Sheetz", "scan", "ruled", right="521/42"),
    _table(FORM_STYLE, "183", "scan", "ruled", left="137/20", up="150"),
    _table(FORM_STYLE, "Rich Oil", "scan", "ruled", up="Kroger", down="Super America"),
    _table(FORM_STYLE, "106", "scan", "ruled", up="82", down="87"),
    _table(FORM_OLD_GOLD, "Speedy Q", "scan", "ruled", left="31", right="196/13"),
    _table(FORM_OLD_GOLD, "Quik Stop", "scan", "ruled", right="117/9", down="Forwards"),
    _table(FORM_OLD_GOLD, "237", "scan", "ruled", up="142", down="102"),
    _table(FORM_OLD_GOLD, "Arbor Rx", "scan", "ruled", top_heading="Name of Account"),
]
