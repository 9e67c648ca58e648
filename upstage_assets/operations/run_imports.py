"""What a run imports on its way to its first document, imported once by the fork server instead.

The fork server (``operations/code_server.py``) imports Dagster's run entry point and the definitions;
a run then still imported 521 more modules while it set up and handled its first documents: 310 ms of
CPU on a quiet core, each run, paid when a backfill's first wave starts together on a busy host. The
largest is pandas (157 ms), which pyarrow's ``Table.from_pylist`` imports for the first validated
row. A forked run inherits these modules, as it inherits the definitions. None of them starts a thread
on import, so the fork server stays safe to fork.
"""

import anyio._backends._asyncio  # noqa: F401  httpx's async transport, on the first request
import dagster_postgres  # noqa: F401  the instance's storage, in deployments on PostgreSQL
import deltalake  # noqa: F401  the table writer, on the first commit
import httpcore  # noqa: F401
import pandas  # noqa: F401  pyarrow imports it on the first Table.from_pylist
import pypdfium2  # noqa: F401  page counts, on the first document

import upstage_assets.local_engine.pdf_text  # noqa: F401  the local engine's PDF text layer
import upstage_assets.operations.event_log_storage  # noqa: F401  the instance's pooled storage
import upstage_assets.resources.upstage_client  # noqa: F401  the Upstage client and its limiter
from upstage_assets.dagster_compat import import_run_executor

import_run_executor()  # the runs' executor, a private Dagster module: named in dagster_compat only
