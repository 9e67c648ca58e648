"""The local engine: Document Parse, OCR and Information Extraction without a network.

pdfium's text layer for born-digital PDFs, the bundled PP-OCR models (onnxruntime) for
scans and images, and torch for page-image preprocessing; answers in the exact Upstage
response shapes so it can stand in for the API anywhere.
"""
