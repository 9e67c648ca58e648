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


def test_links_inside_the_root_that_lead_outside_are_refused(tmp_path):
    """A folder or a file under the root that is a link to elsewhere: the store neither writes through it
    nor reads through it, also when the link appears after the store used that folder."""
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.json").write_bytes(b"secret")
    store = LocalObjectStore(tmp_path / "root")
    (tmp_path / "root").mkdir()
    (tmp_path / "root" / "linked").symlink_to(outside, target_is_directory=True)
    with pytest.raises(UnsafeKeyError):
        store.write_bytes("linked/new.json", b"x")
    with pytest.raises(UnsafeKeyError):
        store.read_bytes("linked/secret.json")
    assert not (outside / "new.json").exists()

    store.write_bytes("used/a.json", b"1")  # the folder is known to the store now
    (tmp_path / "root" / "used" / "b.json").symlink_to(outside / "secret.json")
    with pytest.raises(UnsafeKeyError):
        store.read_bytes("used/b.json")
    with pytest.raises(UnsafeKeyError):
        store.write_bytes("used/b.json", b"overwrite")
    assert (outside / "secret.json").read_bytes() == b"secret"


def test_a_link_that_stays_inside_the_root_is_followed(tmp_path):
    store = LocalObjectStore(tmp_path)
    store.write_bytes("real/a.json", b"1")
    (tmp_path / "alias").symlink_to(tmp_path / "real", target_is_directory=True)
    (tmp_path / "real" / "b.json").symlink_to(tmp_path / "real" / "a.json")
    assert store.read_bytes("alias/a.json") == b"1"
    assert store.read_bytes("real/b.json") == b"1"
