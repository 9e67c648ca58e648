"""The four per-document assets, executed as one step per batch of documents.

    raw_documents -> parsed_layouts -> kie_fields -> validated_documents

They are one ``multi_asset`` so a batch run takes each document through every selected
stage as soon as the previous one is done, with bounded async fan-out, and logs one
materialization per document per asset as it completes (the fan-out runs on its own thread
and never waits for Dagster's event log: ``step_bridge.py``). A crash keeps everything that
finished; a document that fails is recorded (failures table + its partition marked
failed) without stopping the others; selecting a subset (say, only ``kie_fields`` after a
schema change) reads the earlier stages from storage.
"""


import asyncio
import contextlib
import gc
import time
import traceback
from collections.abc import Iterator
from functools import lru_cache
from pathlib import Path
from typing import Any

from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    AssetKey,
    AssetMaterialization,
    AssetOut,
    AssetsDefinition,
    BackfillPolicy,
    Failure,
    MetadataValue,
    multi_asset,
)

from upstage_assets.dagster_compat import DATA_VERSION_TAG, pool_event_log_connections
from upstage_assets.defs.pipeline.config import DocumentPipelineConfig
from upstage_assets.defs.pipeline.keys import KIE_FIELDS, PARSED_LAYOUTS, RAW_DOCUMENTS, VALIDATED_DOCUMENTS
from upstage_assets.defs.pipeline.metadata import column_schema, to_metadata
from upstage_assets.defs.pipeline.outcomes import (
    DocumentOutcome,
    batch_summary,
    say_pending_budget,
    stop_for_shutdown,
)
from upstage_assets.defs.pipeline.partitions import documents_partitions
from upstage_assets.defs.pipeline.progress import (
    ProgressCadence,
    publish_api_state,
    publish_bookkeeping,
    publish_progress,
    publish_rate_limits,
)
from upstage_assets.defs.pipeline.rate_bound import say_rate_bound
from upstage_assets.defs.pipeline.resume import documents_wanted, done_in_run_group, stages_to_skip
from upstage_assets.defs.pipeline.shutdown import BatchShutdown, stop_signals_drain
from upstage_assets.defs.pipeline.stages import (
    DocumentState,
    StageEnv,
    keep_lost_answers_of_failed_stage,
    run_kie,
    run_parse,
    run_raw,
    run_validate,
)
from upstage_assets.defs.pipeline.step_bridge import DeferredContext, StepBridge
from upstage_assets.defs.pipeline.table_commits import (
    DEFAULT_COMMIT_EVERY,
    DEFAULT_COMMIT_WAIT_S,
    PendingRow,
    TableCommits,
)
from upstage_assets.defs.pipeline.unstored_failures import keep_unstored_failure
from upstage_assets.deploy.k8s_gpu import gpu_op_tags
from upstage_assets.errors import BudgetExceeded, DocumentError, InternalError, UnsafeDocumentKey
from upstage_assets.redaction import redact
from upstage_assets.resources.local_engine import LocalEngineResource
from upstage_assets.schemas.extraction import BUILTIN_SCHEMAS, ExtractionSchema, load_schema
from upstage_assets.settings import Settings
from upstage_assets.storage.failures import clear_failure, failure_row, store_failure_row
from upstage_assets.storage.table_writer import DeltaTableWriter
from upstage_assets.upstage_api.errors import UpstageError
from upstage_assets.upstage_api.parser import ParseOptions

DOCUMENTS_PER_RUN = Settings().documents_per_run  # the default batch (see bench/throughput.py)
STAGES = ((RAW_DOCUMENTS, run_raw), (PARSED_LAYOUTS, run_parse), (KIE_FIELDS, run_kie),
          (VALIDATED_DOCUMENTS, run_validate))
QUARANTINE_CHECK = "quarantine_rate_within_limit"
UPSTAGE_API_POOL = "upstage_api"  # HTTP-bound: one slot per step talking to the Upstage API
GPU_POOL = "gpu"  # device-bound: the local engine's step, one slot per GPU on the host


def pipeline_pool_and_tags(settings: Settings) -> tuple[str, dict[str, str]]:
    """The step's concurrency pool and op tags: the local engine is GPU work, the rest HTTP work.

    On Kubernetes the GPU step also carries the ``dagster-k8s/config`` tag that asks for a GPU
    node (``deploy/k8s_gpu.py``); elsewhere the ``gpu`` tag alone lets the executor lease a device.
    """
    if settings.backend == "local":
        return GPU_POOL, gpu_op_tags() if settings.environment == "k8s" else {"gpu": "true"}
    return UPSTAGE_API_POOL, {}


@lru_cache(maxsize=64)
def _cached_schema(name_or_path: str, modified_ns: int = 0) -> ExtractionSchema:
    return load_schema(name_or_path)


def _current_schema(name_or_path: str) -> ExtractionSchema:
    """A schema file edited while the process lives is read again (its version changes)."""
    path = Path(name_or_path).expanduser()
    modified = path.stat().st_mtime_ns if name_or_path not in BUILTIN_SCHEMAS and path.is_file() else 0
    return _cached_schema(name_or_path, modified)


def _data_version(asset_key: AssetKey, state: DocumentState) -> str | None:
    """Per document: its bytes, plus the schema version for the schema-dependent stages, so a
    schema change shows as a new data version on exactly the documents it affected."""
    sha256 = (state.raw or {}).get("sha256") or (state.record.sha256 if state.record else None)
    if not sha256:
        return None
    if asset_key in (KIE_FIELDS, VALIDATED_DOCUMENTS) and state.kie:
        return f"{sha256[:16]}-schema-{state.kie.get('schema_version')}"
    return sha256[:16]


def _builtin_schema_versions() -> str:
    return "-".join(_cached_schema(n).version[:6] for n in ("invoice", "receipt"))


def _document_name(state: DocumentState) -> str | None:
    """The file name, so a partition's page says which document its hex key stands for."""
    return state.record.filename if state.record else (state.raw or {}).get("filename")


def _with_column_schema(materialization: AssetMaterialization, env: StageEnv,
                        state: DocumentState) -> AssetMaterialization:
    """The row's table schema (types, descriptions from the JSON schema) shown in the UI."""
    row = state.table_row
    assert row is not None
    schema_ref = (state.kie or {}).get("schema_ref") or (state.raw or {}).get("schema")  # auto: routed
    properties = env.schema_for(schema_ref).properties if not row.quarantined else {}
    return AssetMaterialization(asset_key=materialization.asset_key, partition=materialization.partition,
                                tags=materialization.tags,
                                metadata={**materialization.metadata,
                                          "dagster/column_schema": column_schema(row.table.schema, properties)})


async def _process_document(context: DeferredContext, env: StageEnv, document_id: str,
                            selected: set[AssetKey], semaphore: asyncio.Semaphore,
                            skip: set[AssetKey] | None = None,
                            shutdown: BatchShutdown | None = None) -> DocumentOutcome:
    """Take one document through the selected stages; any exception becomes its recorded failure.

    This is the batch's error boundary: whatever one document raises (a ``DocumentError``, or a
    ``KeyError``/``UnicodeError``/pyarrow error nobody foresaw, which becomes ``internal_error``),
    it is recorded against that document and stage, and the other documents go on. A shutdown
    (``shutdown.py``) stops it before it starts or between two stages; after the grace period
    it is abandoned mid-stage. A stopped document records nothing: it is unfinished.
    """
    outcome = DocumentOutcome(document_id, completed=[])
    try:
        return await _document_stages(context, env, document_id, selected, semaphore, skip, shutdown, outcome)
    except asyncio.CancelledError:
        if shutdown is None or not shutdown.abandoning:
            raise
        outcome.stopped = "abandoned" if outcome.began else "not started"
        return outcome


async def _document_stages(context: DeferredContext, env: StageEnv, document_id: str,
                           selected: set[AssetKey], semaphore: asyncio.Semaphore, skip: set[AssetKey] | None,
                           shutdown: BatchShutdown | None, outcome: DocumentOutcome) -> DocumentOutcome:
    state = DocumentState(document_id)
    async with semaphore:
        outcome.began = True
        for asset_key, stage in STAGES:
            if asset_key not in selected or (skip and asset_key in skip):
                continue
            if shutdown is not None and shutdown.requested:
                outcome.stopped = "between stages" if outcome.completed else "not started"
                return outcome
            await context.caught_up()  # the event log is at most a few writes behind (crash loses little)
            try:
                metadata = await stage(env, state)
                outcome.bill(metadata)
                outcome.quarantined = outcome.quarantined or metadata.get("status") == "quarantined"
                data_version = _data_version(asset_key, state)
                materialization = AssetMaterialization(
                    asset_key=asset_key, partition=document_id,
                    tags={DATA_VERSION_TAG: data_version} if data_version else None,
                    metadata=to_metadata({"document": _document_name(state), **metadata}))
                if asset_key == VALIDATED_DOCUMENTS and state.table_row is not None:
                    materialization = _with_column_schema(materialization, env, state)
                    outcome.pending = PendingRow(document_id, state.table_row, materialization,
                                                 extra_rows=list(state.extra_table_rows))
                else:
                    # Written by the step's thread (patiently: bookkeeping.py); this document waits for it, the
                    # loop does not: a resumed run skips only logged stages, so an unlogged one would be paid again.
                    await context.logged(materialization)
            except DocumentError as exc:
                await _record_document_failure(context, env, state, asset_key, exc, outcome)
                return outcome
            except Exception as exc:  # the boundary: one document never fails the batch
                error = InternalError.from_exception(exc, asset_key.to_user_string())
                context.log.error(f"document {document_id}: unexpected {type(exc).__name__} at "
                                  f"{asset_key.to_user_string()}\n{redact(traceback.format_exc())}")
                await _record_document_failure(context, env, state, asset_key, error, outcome)
                return outcome
            outcome.completed.append(asset_key)
    try:
        await asyncio.to_thread(clear_failure, env.store, env.layout, document_id)
    except Exception as exc:  # a stale failure row is corrected by the next run
        context.log.warning(f"document {document_id}: could not clear its old failure record: "
                            f"{type(exc).__name__}: {redact(str(exc))}")
    return outcome


async def _record_document_failure(context: DeferredContext, env: StageEnv, state: DocumentState,
                                   asset_key: AssetKey, error: DocumentError, outcome: DocumentOutcome) -> None:
    outcome.error, outcome.failed_stage = error, asset_key
    try:
        await keep_lost_answers_of_failed_stage(env, state.document_id)
    except Exception as exc:  # the failure itself must still be recorded
        context.log.warning(f"document {state.document_id}: could not record the pages of its lost answers: "
                            f"{type(exc).__name__}: {redact(str(exc))}")
    row = failure_row(document_id=state.document_id, source_uri=state.record.source_uri if state.record else None,
                      stage=asset_key.to_user_string(), error=error, run_id=context.run_id)
    try:
        await asyncio.to_thread(store_failure_row, env.store, env.layout, row)
    except UnsafeDocumentKey:  # a key that cannot name a file: the step's failure lists it
        pass
    except Exception as exc:  # a full disk refuses the record too: the run's tags keep it (unstored_failures.py)
        context.defer(_keep_unstored_failure, state.document_id, row, f"{type(exc).__name__}: {redact(str(exc))}")
    context.log.warning(f"document {state.document_id} failed at {asset_key.to_user_string()}: "
                        f"[{error.code}] {error.message}")


def _keep_unstored_failure(context: AssetExecutionContext, document_id: str, row: Any, reason: str) -> None:
    """On the step's thread (a run-tag write): keep a failure the output store refused, and say so."""
    kept = keep_unstored_failure(context.instance, context.run_id, row)
    context.log.error(f"document {document_id}: its failure could not be stored ({reason}); "
                      + ("kept in the run's tags, so status and retry-failed still see it" if kept else
                         "the step's summary and failure still list it"))


def _api_retryable(error: DocumentError | None) -> bool:
    """An API failure that may pass once the API is back (an outage, throttling); not a budget stop."""
    return isinstance(error, UpstageError) and error.retryable


async def _retry_api_failures(context: DeferredContext, env: StageEnv, selected: set[AssetKey],
                              semaphore: asyncio.Semaphore, outcomes: list[DocumentOutcome],
                              skips: dict[str, set[AssetKey]], rounds: int, shutdown: BatchShutdown) -> None:
    """Documents whose API calls still failed (an outage longer than the circuit breaker waits) get
    ``rounds`` more tries in this run, resuming after the stages they finished; bounded. After a stop
    signal no round begins, and the rounds' documents drain like the batch's (``shutdown.py``)."""
    for round_number in range(1, rounds + 1):
        again = [(i, o) for i, o in enumerate(outcomes) if _api_retryable(o.error)]
        if not again or shutdown.requested:
            return
        context.log.warning(f"retry round {round_number}/{rounds}: {len(again)} documents whose API calls failed")
        tasks = [asyncio.create_task(_process_document(context, env, o.document_id, selected, semaphore,
                                                       (skips.get(o.document_id) or set()) | set(o.completed),
                                                       shutdown)) for _, o in again]
        shutdown.track(tasks)
        retried = await asyncio.gather(*tasks)
        for (index, old), new in zip(again, retried, strict=True):
            new.completed = old.completed + new.completed
            for product, pages in old.pages_billed.items():
                new.pages_billed[product] = new.pages_billed.get(product, 0) + pages
            new.cost_usd += old.cost_usd
            new.possibly_billed_twice += old.possibly_billed_twice
            outcomes[index] = new


async def _process_batch(context: DeferredContext, env: StageEnv, keys: list[str],
                         selected: set[AssetKey], concurrency: int, skips: dict[str, set[AssetKey]],
                         shutdown: BatchShutdown, retry_rounds: int = 0,
                         commit_every: int = DEFAULT_COMMIT_EVERY,
                         commit_wait_s: float = DEFAULT_COMMIT_WAIT_S) -> list[DocumentOutcome]:
    semaphore = asyncio.Semaphore(concurrency)
    progress = ProgressCadence(len(keys))
    outcomes: list[DocumentOutcome] = []
    by_id: dict[str, DocumentOutcome] = {}
    queued: set[str] = set()  # documents whose row is with the table commits

    async def commit_failed(document_id: str, error: DocumentError) -> None:
        outcome = by_id[document_id]
        if VALIDATED_DOCUMENTS in outcome.completed:
            outcome.completed.remove(VALIDATED_DOCUMENTS)
        await _record_document_failure(context, env, DocumentState(document_id), VALIDATED_DOCUMENTS, error, outcome)

    commits = TableCommits(context, DeltaTableWriter(env.store, env.layout), commit_failed, commit_every,
                           commit_wait_s)
    try:
        tasks = [asyncio.create_task(_process_document(context, env, key, selected, semaphore, skips.get(key),
                                                       shutdown))
                 for key in keys]
        shutdown.track(tasks)
        for done, task in enumerate(asyncio.as_completed(tasks), start=1):
            outcome = await task
            outcomes.append(outcome)
            by_id[outcome.document_id] = outcome
            if outcome.pending is not None:
                queued.add(outcome.document_id)
                await commits.add(outcome.pending)
            if progress.due(done):
                elapsed = progress.elapsed_s()
                rate = done / elapsed if elapsed else 0.0
                eta = (len(keys) - done) / rate if rate else 0.0
                context.log.info(f"progress: {done}/{len(keys)} documents, {rate:.2f} docs/s, ETA {eta:.0f}s")
                context.defer(publish_progress, list(outcomes), len(keys), elapsed)
        if retry_rounds:
            await _retry_api_failures(context, env, selected, semaphore, outcomes, skips, retry_rounds, shutdown)
            for outcome in outcomes:  # rows the retry rounds validated are committed like the others
                by_id[outcome.document_id] = outcome
                if outcome.pending is not None and outcome.document_id not in queued:
                    queued.add(outcome.document_id)
                    await commits.add(outcome.pending)
            context.defer(publish_progress, list(outcomes), len(keys), progress.elapsed_s())
    finally:
        try:
            await commits.flush()  # what was validated is committed and logged, even on the way out
        finally:
            await env.parser.aclose()
    return outcomes


def _build_env(context: DeferredContext, config: DocumentPipelineConfig, settings: Settings) -> StageEnv:
    storage = context.resources.storage
    parser_resource = context.resources.parser
    store = storage.output_store()

    def schema_for(name: str | None) -> ExtractionSchema:
        return _current_schema(name or config.default_schema or settings.default_schema)

    if isinstance(parser_resource, LocalEngineResource):
        parser = parser_resource.create_parser()
    else:  # the Upstage client scopes its per-run budget to this run and warns through the run's log
        parser = parser_resource.create_parser(run_id=context.run_id, on_budget_warning=context.log.warning,
                                               on_circuit_change=lambda _, text: context.defer(publish_api_state, text))
    return StageEnv(store=store, layout=storage.layout, registry=storage.registry(),
                    parser=parser, backend=parser_resource.backend_label,
                    read_source=storage.read_source, limits=config.limits(),
                    parse_options=ParseOptions(ocr=config.ocr), schema_for=schema_for,
                    prices=parser_resource.product_prices(ParseOptions(ocr=config.ocr).mode),
                    document_types=config.document_type_policy())


@contextlib.contextmanager
def collector_skips_what_is_loaded() -> Iterator[None]:
    """Keep the garbage collector's full passes off what the step has loaded (Dagster, the definitions).

    A full collection walks every live object: 100-190 ms with Dagster loaded, during which the batch's
    event loop sends nothing and its requests wait. What is alive when the batch starts stays alive
    through it, so it is frozen for the batch and handed back to the collector after.
    """
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def run_document_pipeline(context: AssetExecutionContext, config: DocumentPipelineConfig, settings: Settings):
    """The step: every wanted document through the selected stages; a check result; failures last."""
    pool_event_log_connections(context.instance)  # several event writes per document: no new connection each
    keys = documents_wanted(context.run.tags, list(context.partition_keys))  # recovery runs skip done ones
    selected = set(context.selected_asset_keys)
    concurrency = config.concurrency(context.resources.parser)
    bridge = StepBridge(max_backlog=max(32, 2 * concurrency))
    deferred = DeferredContext(context, bridge)
    env = _build_env(deferred, config, settings)
    skips = stages_to_skip(context.instance, context.run.tags, keys, selected, env.store, env.layout)
    group = done_in_run_group(context.instance, context.run, keys, selected, env.store, env.layout)
    if group.settled or any(group.stages.values()):  # a retried run: what its earlier attempts did stays done
        context.log.info(f"re-execution of run {context.run.parent_run_id}: {len(group.settled)} documents "
                         "finished or failed there are skipped, the others resume at the stage they reached")
        keys = [k for k in keys if k not in group.settled]
        skips = {k: skips.get(k, set()) | group.stages.get(k, set()) for k in keys}
    context.log.info(f"processing {len(keys)} documents through "
                     f"{', '.join(k.to_user_string() for k, _ in STAGES if k in selected)} ({env.backend} backend)")
    say_rate_bound(context.log, context.resources.parser, env.document_types, extracts=KIE_FIELDS in selected)
    started = time.monotonic()
    shutdown = BatchShutdown(grace_s=settings.shutdown_grace_s)
    # stop_signals_drain: signals reach the batch's loop on its thread (call_soon_threadsafe)
    with stop_signals_drain(shutdown), collector_skips_what_is_loaded():
        outcomes = bridge.run(lambda: _process_batch(deferred, env, keys, selected, concurrency, skips, shutdown,
                                                     config.api_retry_rounds, config.table_commit_every,
                                                     config.table_commit_wait_s))
    publish_rate_limits(context, env.parser)
    summary = {**batch_summary(outcomes, time.monotonic() - started), "bookkeeping_calls": bridge.deferred,
               "bookkeeping_seconds": round(bridge.busy_s, 2)}
    publish_bookkeeping(context, bridge.deferred, bridge.busy_s)
    context.log.info(f"batch summary: {summary}")
    say_pending_budget(context, outcomes)
    if shutdown.requested:
        stop_for_shutdown(context, shutdown, outcomes)

    if VALIDATED_DOCUMENTS in selected:
        validated = [o for o in outcomes if VALIDATED_DOCUMENTS in o.completed]
        fraction = (sum(1 for o in validated if o.quarantined) / len(validated)) if validated else 0.0
        yield AssetCheckResult(
            check_name=QUARANTINE_CHECK, asset_key=VALIDATED_DOCUMENTS,
            passed=fraction <= config.max_quarantine_fraction, severity=AssetCheckSeverity.ERROR,
            metadata={"quarantined_fraction": round(fraction, 3), "validated": len(validated),
                      "max_quarantined_fraction": config.max_quarantine_fraction,
                      **{k: v for k, v in summary.items() if v is not None}})

    failed = [o for o in outcomes if o.error and not isinstance(o.error, BudgetExceeded)]
    if failed and config.fail_step_on_document_errors:
        listing = "\n".join(f"- {o.document_id} at {o.failed_stage.to_user_string() if o.failed_stage else '?'}: "
                            f"[{o.error.code}] {o.error.message}" for o in failed[:50] if o.error)
        raise Failure(
            description=f"{len(failed)} of {len(keys)} documents failed; the other documents are materialized. "
                        "Fix the cause and re-run the failed partitions (`upstage-assets retry-failed`).",
            metadata={"failures": MetadataValue.md(listing), **summary})


def build_document_pipeline(settings: Settings) -> AssetsDefinition:
    """The four assets as one step, with the pool, op tags and batch size the settings pick."""
    pool, op_tags = pipeline_pool_and_tags(settings)

    @multi_asset(
        name="document_pipeline",
        outs={
            "raw_documents": AssetOut(
                key=RAW_DOCUMENTS, is_required=False, io_manager_key="document_json_io_manager",
                description="One registered source document: where it came from, its SHA-256, size, the type read "
                            "from its bytes and its page count. Bad input (empty, corrupt, encrypted, unsupported, "
                            "over the limits) is refused here, before anything is paid for."),
            "parsed_layouts": AssetOut(
                key=PARSED_LAYOUTS, is_required=False, io_manager_key="document_json_io_manager",
                description="The Document Parse result in the Upstage response shape: html/markdown/text content "
                            "and elements with categories, pages and relative coordinates."),
            "kie_fields": AssetOut(
                key=KIE_FIELDS, is_required=False, io_manager_key="document_json_io_manager",
                code_version=f"schemas-{_builtin_schema_versions()}",
                description="Schema-driven key information extraction: each field's value, confidence, page and "
                            "coordinates, in the schema's Upstage Information Extraction form."),
            "validated_documents": AssetOut(
                key=VALIDATED_DOCUMENTS, is_required=False, io_manager_key="parquet_table_io_manager",
                code_version=f"schemas-{_builtin_schema_versions()}",
                description="Typed rows in Delta Lake tables (tables/<schema>, one row per document, with lineage "
                            "columns); rows that fail validation go to the quarantine/<schema> table with the reason."),
        },
        internal_asset_deps={
            "raw_documents": set(), "parsed_layouts": {RAW_DOCUMENTS},
            "kie_fields": {PARSED_LAYOUTS}, "validated_documents": {KIE_FIELDS},
        },
        # Not blocking: quarantined rows are the pipeline working (bad input, recorded with reasons), so a
        # breach marks the check failed (UI, alerts, the CLI's summary) but never the run; documents that
        # could not be processed are what fails a run.
        check_specs=[AssetCheckSpec(QUARANTINE_CHECK, asset=VALIDATED_DOCUMENTS, blocking=False,
                                    description="At most max_quarantine_fraction of a batch is quarantined. A "
                                                "breach fails this check, not the run.")],
        partitions_def=documents_partitions,
        can_subset=True,
        backfill_policy=BackfillPolicy.multi_run(settings.documents_per_run),
        pool=pool,
        op_tags=op_tags,
        group_name="documents",
        required_resource_keys={"parser", "storage"},
    )
    def document_pipeline(context: AssetExecutionContext, config: DocumentPipelineConfig):
        yield from run_document_pipeline(context, config, settings)

    return document_pipeline
