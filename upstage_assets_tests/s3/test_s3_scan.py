"""The incremental S3 scan against a real S3 API: cursor, pagination, versions, dedup, failures."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from upstage_assets.ingest.naming import document_id_for_bytes
from upstage_assets.ingest.s3_scan import S3ScanLimits, S3ScanResult, failure_id_for_source, scan_s3_inbox
from upstage_assets.ingest.s3_state import ScanCursor, load_checkpoint, scope_for
from upstage_assets.storage.failures import read_failures


class Scanner:
    """Calls the scan like the sensor does, keeping the cursor and the partitions between calls."""

    def __init__(self, bucket, **limits):
        self.storage = bucket.storage()
        # A generous time budget unless a test is about the budget: a loaded machine must not
        # turn a pagination test into a budget test.
        self.limits = S3ScanLimits(**{"time_budget_s": 300.0, **limits})
        self.cursor: str | None = None
        self.partitions: list[str] = []

    def scan(self) -> S3ScanResult:
        result = scan_s3_inbox(self.storage.inbox_store(), self.storage.output_store(), self.storage.registry(),
                               cursor=self.cursor, is_partition=lambda document_id: document_id in self.partitions,
                               default_schema="invoice", limits=self.limits)
        self.cursor = result.cursor
        self.partitions += result.new_ids
        return result

    def parsed_cursor(self) -> ScanCursor:
        return ScanCursor.parse(self.cursor, scope_for(self.storage.inbox_store().root_uri))

    def until_pass_completes(self, max_ticks: int = 50) -> list[S3ScanResult]:
        results = []
        for _ in range(max_ticks):
            results.append(self.scan())
            if results[-1].pass_completed:
                return results
        raise AssertionError("the pass never completed")


def doc(n: int) -> bytes:
    return b"%PDF-1.4 test document " + str(n).encode() + b"\n%%EOF\n"


def test_new_objects_are_registered_once_and_an_idle_pass_reads_nothing(bucket):
    for n in range(6):
        bucket.put(f"inbox/doc-{n}.pdf", doc(n))
    bucket.put("inbox/receipt/r.png", doc(99))
    scanner = Scanner(bucket)

    first = scanner.scan()
    assert first.pass_completed and first.reads == 7
    assert sorted(first.new_ids) == sorted({document_id_for_bytes(doc(n)) for n in [*range(6), 99]})
    record = scanner.storage.registry().get(document_id_for_bytes(doc(99)))
    assert record is not None and record.schema == "receipt"
    assert record.source_uri == f"s3://{bucket.name}/inbox/receipt/r.png"

    idle = scanner.scan()
    assert (idle.new_ids, idle.reads, idle.duplicates, idle.listed) == ([], 0, [], 7)


def test_the_same_bytes_under_another_key_are_no_new_document_and_cost_no_read(bucket):
    bucket.put("inbox/a.pdf", doc(1))
    scanner = Scanner(bucket)
    scanner.scan()
    bucket.put("inbox/copy/of-a.pdf", doc(1))
    copy = scanner.scan()
    assert copy.new_ids == [] and copy.duplicates == [f"s3://{bucket.name}/inbox/copy/of-a.pdf"]
    assert copy.reads == 0, "a plain MD5 ETag already known identifies the bytes without a GET"

    strict = Scanner(bucket, trust_md5_etag=False)
    strict.partitions = list(scanner.partitions)
    result = strict.scan()
    assert result.reads == 2 and result.new_ids == [] and len(result.duplicates) == 2


def test_an_overwritten_key_with_new_bytes_is_a_new_document(bucket):
    bucket.put("inbox/a.pdf", doc(1))
    scanner = Scanner(bucket)
    scanner.scan()
    bucket.put("inbox/a.pdf", doc(2))
    result = scanner.scan()
    assert result.new_ids == [document_id_for_bytes(doc(2))] and result.reads == 1
    assert scanner.storage.registry().get(result.new_ids[0]).source_uri.endswith("inbox/a.pdf")
    bucket.put("inbox/a.pdf", doc(1))  # back to bytes that already are a document
    assert scanner.scan().new_ids == []


def test_folder_markers_hidden_files_and_other_suffixes_are_skipped(bucket):
    bucket.put("inbox/sub/", b"")
    bucket.put("inbox/.hidden.pdf", doc(1))
    bucket.put("inbox/notes.txt", b"text")
    bucket.put("inbox/scan.PNG", doc(2))
    bucket.put("inbox/a.pdf", doc(3))
    result = Scanner(bucket).scan()
    assert sorted(result.new_ids) == sorted([document_id_for_bytes(doc(2)), document_id_for_bytes(doc(3))])
    assert result.skipped == {"folder marker": 1, "hidden file": 1,
                              "suffix not in the configured document types": 1}
    assert result.failures == [], "a folder marker is not an empty document"

    only_pdf = Scanner(bucket, suffixes=(".pdf",))
    assert only_pdf.scan().new_ids == [document_id_for_bytes(doc(3))]


def test_zero_byte_objects_are_one_stable_failure_until_they_get_bytes(bucket):
    bucket.put("inbox/empty.pdf", b"")
    scanner = Scanner(bucket)
    result = scanner.scan()
    uri = f"s3://{bucket.name}/inbox/empty.pdf"
    failure_id = failure_id_for_source(uri)
    assert result.new_ids == [] and result.failures == [(uri, failure_id)]
    store, layout = scanner.storage.output_store(), scanner.storage.layout
    table = read_failures(store, layout).to_pylist()
    assert [(r["document_id"], r["source_uri"], r["error_code"], r["stage"]) for r in table] == \
        [(failure_id, uri, "empty_document", "inbox")]
    assert failure_id == failure_id_for_source(uri) and failure_id.startswith("src-")

    assert scanner.scan().failures == [], "recorded once, not every tick"
    bucket.put("inbox/empty.pdf", doc(5))
    fixed = scanner.scan()
    assert fixed.new_ids == [document_id_for_bytes(doc(5))]
    assert read_failures(store, layout).num_rows == 0


def test_a_tick_stops_at_its_budget_and_the_cursor_resumes_there(bucket):
    for n in range(23):
        bucket.put(f"inbox/d{n:02d}.pdf", doc(n))
    scanner = Scanner(bucket, max_documents=5, workers=2, page_size=10)
    results = scanner.until_pass_completes()
    assert all(r.reads <= 5 for r in results)
    assert [r.budget_exhausted for r in results[:-1]] == [True] * (len(results) - 1)
    assert len(results) == 5
    assert sorted(scanner.partitions) == sorted(document_id_for_bytes(doc(n)) for n in range(23))
    assert len(scanner.partitions) == 23, "nothing registered twice across ticks"


def test_pagination_resumes_mid_pass_and_finds_keys_that_arrive_out_of_order(bucket):
    for n in range(30):
        bucket.put(f"inbox/m{n:02d}.pdf", doc(n))
    scanner = Scanner(bucket, page_size=7, max_pages=2)
    first_pass = scanner.until_pass_completes()
    assert len(first_pass) == 3 and [r.pages for r in first_pass] == [2, 2, 1]
    assert len(scanner.partitions) == 30

    # Mid-way through the next pass, a key sorting before the resume point arrives.
    assert scanner.scan().new_ids == []
    assert scanner.parsed_cursor().after.endswith("m13.pdf")
    bucket.put("inbox/a-late-arrival.pdf", doc(100))
    bucket.put("inbox/z-late-arrival.pdf", doc(101))
    found = [i for r in scanner.until_pass_completes() for i in r.new_ids]
    found += [i for r in scanner.until_pass_completes() for i in r.new_ids]
    assert sorted(found) == sorted([document_id_for_bytes(doc(100)), document_id_for_bytes(doc(101))])


@pytest.mark.slow
def test_more_than_a_thousand_keys_are_listed_over_several_pages(bucket):
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda n: bucket.put(f"inbox/p/{n:05d}.pdf", doc(n)), range(1005)))
    scanner = Scanner(bucket, max_documents=5000)
    result = scanner.scan()
    assert result.pages == 2 and result.listed == 1005 and len(result.new_ids) == 1005
    idle = scanner.scan()
    assert idle.pages == 2 and idle.reads == 0 and idle.new_ids == []


def test_an_interrupted_tick_is_redone_from_the_previous_cursor(bucket):
    bucket.put("inbox/a.pdf", doc(1))
    scanner = Scanner(bucket)
    lost = scanner.scan()
    # Dagster never persisted that tick: neither the partitions nor the cursor.
    scanner.cursor, scanner.partitions = None, []
    again = scanner.scan()
    assert again.new_ids == lost.new_ids, "registered but never a partition: requested again"
    assert scanner.scan().new_ids == []


def test_forgotten_entries_are_bounded_by_the_watermark_and_overwrites_still_show(bucket):
    for n in range(4):
        bucket.put(f"inbox/w{n}.pdf", doc(n))
    time.sleep(1.1)  # LastModified has one-second resolution
    scanner = Scanner(bucket, lookback_s=0.0)
    scanner.scan()
    scanner.scan()  # the second complete pass forgets objects older than the first pass's start
    storage = scanner.storage
    checkpoint = load_checkpoint(storage.output_store(), scanner.parsed_cursor())
    assert checkpoint.seen == {} and checkpoint.etags == {}
    assert scanner.scan().reads == 0, "forgotten objects are not read again"
    time.sleep(1.1)
    bucket.put("inbox/w2.pdf", doc(200))
    result = scanner.scan()
    assert result.new_ids == [document_id_for_bytes(doc(200))] and result.reads == 1


@pytest.mark.parametrize("garbage", ["", "not json", '{"scope": "other", "generation": 3}'])
def test_a_missing_or_foreign_cursor_starts_afresh(bucket, garbage):
    bucket.put("inbox/a.pdf", doc(1))
    scanner = Scanner(bucket)
    scanner.cursor = garbage
    assert len(scanner.scan().new_ids) == 1


def test_the_time_budget_bounds_listing_and_reading(bucket):
    for n in range(3):
        bucket.put(f"inbox/t{n}.pdf", doc(n))
    scanner = Scanner(bucket, time_budget_s=0.0)
    ticks = [scanner.scan() for _ in range(3)]
    assert [(t.listed, t.reads, len(t.new_ids)) for t in ticks] == [(1, 1, 1)] * 3
    assert all(t.budget_exhausted for t in ticks)
    idle = scanner.scan()
    assert idle.listed <= 1 and idle.reads == 0, "an idle tick stops listing at the budget too"


def test_a_multipart_etag_is_not_taken_for_an_md5_the_bytes_are_hashed(bucket):
    bucket.put("inbox/a.pdf", doc(1))
    scanner = Scanner(bucket)
    scanner.scan()
    upload = bucket.client.create_multipart_upload(Bucket=bucket.name, Key="inbox/multipart-copy.pdf")
    part = bucket.client.upload_part(Bucket=bucket.name, Key="inbox/multipart-copy.pdf", PartNumber=1,
                                     UploadId=upload["UploadId"], Body=doc(1))
    bucket.client.complete_multipart_upload(Bucket=bucket.name, Key="inbox/multipart-copy.pdf",
                                            UploadId=upload["UploadId"],
                                            MultipartUpload={"Parts": [{"ETag": part["ETag"], "PartNumber": 1}]})
    etag = bucket.client.head_object(Bucket=bucket.name, Key="inbox/multipart-copy.pdf")["ETag"].strip('"')
    assert etag.endswith("-1"), etag
    result = scanner.scan()
    assert result.reads == 1 and result.new_ids == [] and len(result.duplicates) == 1
