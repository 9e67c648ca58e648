"""Document handlers the Batch worker runs in tests (named in the Pipes extras, like real ones)."""

from __future__ import annotations


def key_stats(key: str) -> dict[str, int]:
    print(f"handling {key}")  # a plain stdout line: must reach the step's logs, not the Pipes channel
    if key.startswith("corrupt"):
        raise ValueError("unreadable document")
    return {"chars": len(key)}
