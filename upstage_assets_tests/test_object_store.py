"""The local object store writes atomically and never outside its root."""

import pytest

from upstage_assets.storage.object_store import LocalObjectStore, UnsafeKeyError, safe_key


@pytest.mark.parametrize("key", ["../escape.json", "/etc/passwd", "a/../../b", "..", "a\\..\\b", "x\x00y", ""])
def test_unsafe_keys_are_refused(tmp_path, key):
    store = LocalObjectStore(tmp_path / "root")
    with pytest.raises(UnsafeKeyError):
        store.write_bytes(key, b"x")
    assert not (tmp_path / "escape.json").exists()


def test_unicode_and_korean_keys_stay_inside(tmp_path):
    store = LocalObjectStore(tmp_path)
    path = store.write_bytes("raw/영수증 2024.json", b"{}")
    assert path.startswith(str(tmp_path)) and store.read_bytes("raw/영수증 2024.json") == b"{}"
    assert safe_key("a/./b") == "a/b"


def test_writes_are_atomic_and_listing_hides_temporaries(tmp_path):
    store = LocalObjectStore(tmp_path)
    store.write_bytes("t/a.json", b"1")
    (tmp_path / "t" / ".b.json.123.tmp").write_bytes(b"partial")
    store.write_bytes("t/a.json", b"22")
    assert [i.key for i in store.list("t")] == ["t/a.json"]
    assert store.read_bytes("t/a.json") == b"22"
    store.delete("t/a.json")
    store.delete("t/a.json")  # deleting twice is fine
    assert not store.exists("t/a.json")
