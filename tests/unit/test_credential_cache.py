"""The credential cache: hits, misses, keyed digests, off switch."""

from __future__ import annotations

import hashlib

from teamgate.auth.cache import CredentialCache


def test_hit_only_for_the_same_user_and_password() -> None:
    cache = CredentialCache(60)
    cache.remember("alice", "pw")
    assert cache.contains("alice", "pw")
    assert not cache.contains("alice", "other")
    assert not cache.contains("bob", "pw")


def test_zero_ttl_turns_the_cache_off() -> None:
    cache = CredentialCache(0)
    cache.remember("alice", "pw")
    assert not cache.contains("alice", "pw")
    assert len(cache) == 0


def test_keys_are_not_plain_sha256() -> None:
    cache = CredentialCache(60)
    cache.remember("alice", "pw")
    plain = hashlib.sha256(b"alice:pw").digest()
    assert plain not in cache._entries
    # the same pair in another process (another key) gives another digest
    assert CredentialCache(60)._digest("alice", "pw") != cache._digest("alice", "pw")


def test_clear_forgets_everything() -> None:
    cache = CredentialCache(60)
    cache.remember("alice", "pw")
    cache.clear()
    assert not cache.contains("alice", "pw")


def test_expired_entries_miss(monkeypatch: object) -> None:
    import teamgate.auth.cache as module

    now = [1000.0]
    monkeypatch.setattr(module.time, "monotonic", lambda: now[0])  # type: ignore[attr-defined]
    cache = CredentialCache(5)
    cache.remember("alice", "pw")
    now[0] += 4.9
    assert cache.contains("alice", "pw")
    now[0] += 0.2
    assert not cache.contains("alice", "pw")
