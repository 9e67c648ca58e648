"""Entry point of the AWS Batch container: `python -m upstage_assets.aws.batch_worker`.

Opens Dagster Pipes from the environment PipesBatchClient injected, runs the handler named in
the extras ("module:function", called once per document key and returning metadata) and reports
progress per document, so a Spot reclaim loses at most the document in flight.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any

from dagster_pipes import open_dagster_pipes


def load_handler(spec: str) -> Callable[[str], Mapping[str, Any]]:
    module_name, _, attribute = spec.partition(":")
    if not module_name or not attribute:
        raise ValueError(f"handler must look like 'package.module:function', got {spec!r}")
    handler = getattr(importlib.import_module(module_name), attribute)
    if not callable(handler):
        raise TypeError(f"{spec} is not callable")
    return handler  # type: ignore[no-any-return]


def main() -> int:
    with open_dagster_pipes() as pipes:
        documents = list(pipes.get_extra("documents") or [])
        handler = load_handler(str(pipes.get_extra("handler")))
        failed = 0
        for key in documents:
            try:
                metadata = dict(handler(key))
            except Exception as err:  # one bad document must not sink the batch
                failed += 1
                pipes.log.warning(f"document {key} failed: {type(err).__name__}: {err}")
                pipes.report_custom_message({"document": key, "ok": False, "error": type(err).__name__})
                continue
            pipes.report_custom_message({"document": key, "ok": True, "metadata": metadata})
        pipes.log.info(f"processed {len(documents) - failed} of {len(documents)} document(s)")
        if pipes.is_asset_step:
            pipes.report_asset_materialization(metadata={"documents": len(documents), "failed": failed})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
