"""The OAuth2 token store: atomic 0600 writes, chains by fingerprint, and a lock that holds."""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
import stat
import time
from pathlib import Path
from typing import Any

import pytest

from tap_discord.auth.tokenstore import (
    StoredToken,
    TokenStore,
    default_store_path,
    fingerprint,
)
from tap_discord.errors import ConfigError

SECRET_REFRESH = "store-refresh-token-secret"
SECRET_ACCESS = "store-access-token-secret"


def chain(refresh: str = SECRET_REFRESH, access: str = SECRET_ACCESS, **kw) -> StoredToken:
    fields: dict[str, Any] = {
        "grant": "refresh_token",
        "lineage": (fingerprint("origin"), fingerprint(refresh)),
        "refresh_token": refresh,
        "access_token": access,
        "scope": "identify guilds",
        "expires_at": 2_000_000_000.0,
        "lifetime": 604800.0,
        "updated_at": time.time(),
    }
    fields.update(kw)
    return StoredToken(**fields)


def test_round_trip_and_private_modes(tmp_path: Path) -> None:
    store = TokenStore(tmp_path / "new-dir" / "tokens.json", "123")
    token = chain()
    store.save(token)
    assert stat.S_IMODE(store.path.stat().st_mode) == 0o600
    assert stat.S_IMODE(store.path.parent.stat().st_mode) == 0o700
    assert store.find(fingerprint("origin")) == token
    assert store.find(fingerprint(SECRET_REFRESH)) == token
    assert store.find(fingerprint("unrelated")) is None
    data = json.loads(store.path.read_text())
    assert data["client_id"] == "123"
    assert data["version"] == 1


def test_mode_stays_0600_with_a_permissive_umask(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        store = TokenStore(tmp_path / "tokens.json", "123")
        store.save(chain())
        store.save(chain(refresh="second"))
    finally:
        os.umask(old)
    assert stat.S_IMODE(store.path.stat().st_mode) == 0o600


def test_repr_shows_no_secret(tmp_path: Path) -> None:
    token = chain()
    store = TokenStore(tmp_path / "tokens.json", "123")
    for text in (repr(token), str(token), repr(store), f"{token}"):
        assert SECRET_REFRESH not in text
        assert SECRET_ACCESS not in text


def test_no_temp_file_is_left_and_stale_ones_are_cleaned(tmp_path: Path) -> None:
    store = TokenStore(tmp_path / "tokens.json", "123")
    stale = tmp_path / ".tokens.json.abc123.tmp"
    stale.write_text("half a write from a killed run")
    store.save(chain())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tokens.json"]


def test_saving_a_chain_keeps_the_others(tmp_path: Path) -> None:
    store = TokenStore(tmp_path / "tokens.json", "123")
    a = chain(refresh="a1", lineage=(fingerprint("a0"), fingerprint("a1")))
    b = chain(refresh="b0", lineage=(fingerprint("b0"),))
    store.save(a)
    store.save(b)
    a2 = chain(refresh="a2", lineage=(*a.lineage, fingerprint("a2")))
    store.save(a2)
    chains = store.load()
    assert len(chains) == 2
    assert store.find(fingerprint("a0")) == a2
    assert store.find(fingerprint("b0")) == b


def test_another_clients_file_is_ignored_and_never_overwritten(tmp_path: Path) -> None:
    TokenStore(tmp_path / "tokens.json", "111").save(chain())
    other = TokenStore(tmp_path / "tokens.json", "222")
    assert other.load() == []
    assert other.problem == "it belongs to another client_id"
    with pytest.raises(ConfigError, match="another OAuth2 client"):
        other.save(chain())
    assert json.loads((tmp_path / "tokens.json").read_text())["client_id"] == "111"


@pytest.mark.parametrize(
    "content",
    ["{not json", '{"version": 99}', '{"version": 1, "client_id": "123", "chains": 5}'],
)
def test_a_damaged_file_is_reported_and_replaced(tmp_path: Path, content: str) -> None:
    path = tmp_path / "tokens.json"
    path.write_text(content)
    store = TokenStore(path, "123")
    assert store.load() == []
    assert store.problem is not None
    assert store.problem.startswith("it is damaged")
    store.save(chain())
    assert store.find(fingerprint(SECRET_REFRESH)) is not None


def test_default_path_is_per_user_and_keyed_by_client_id(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
    assert default_store_path("123") == tmp_path / "tap-discord" / "oauth-123.json"
    assert default_store_path("../evil id") == tmp_path / "tap-discord" / "oauth-.._evil_id.json"
    monkeypatch.delenv("XDG_STATE_HOME")
    assert default_store_path("1") == Path.home() / ".local/state/tap-discord/oauth-1.json"


# Locking across processes -----------------------------------------------------------------


def _increment(path: str, rounds: int) -> None:
    """Read-modify-write a counter under the lock (lost updates would show)."""
    store = TokenStore(path, "123")
    for _ in range(rounds):
        with store.locked():
            found = store.find(fingerprint("origin"))
            count = int(found.access_token) if found and found.access_token else 0
            time.sleep(0.001)
            store.save(chain(access=str(count + 1), updated_at=time.time()))


def test_concurrent_writers_lose_no_update(tmp_path: Path) -> None:
    path = str(tmp_path / "tokens.json")
    ctx = multiprocessing.get_context("fork")
    workers = [ctx.Process(target=_increment, args=(path, 25)) for _ in range(4)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(60)
        assert w.exitcode == 0
    found = TokenStore(path, "123").find(fingerprint("origin"))
    assert found is not None
    assert found.access_token == "100"


def _hold_lock(path: str, ready) -> None:
    with TokenStore(path, "123").locked():
        ready.set()
        time.sleep(60)


def test_lock_waits_times_out_clearly_and_dies_with_its_holder(tmp_path: Path) -> None:
    path = str(tmp_path / "tokens.json")
    ctx = multiprocessing.get_context("fork")
    ready = ctx.Event()
    holder = ctx.Process(target=_hold_lock, args=(path, ready))
    holder.start()
    try:
        assert ready.wait(30)
        store = TokenStore(path, "123")
        with pytest.raises(ConfigError, match="stayed locked"), store.locked(timeout=0.3):
            pass
        assert holder.pid is not None
        os.kill(holder.pid, signal.SIGKILL)
        holder.join(10)
        with store.locked(timeout=5):
            store.save(chain())
    finally:
        if holder.is_alive() and holder.pid is not None:
            os.kill(holder.pid, signal.SIGKILL)
            holder.join(10)


def test_an_unwritable_location_fails_before_any_refresh(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the directory should be")
    store = TokenStore(blocker / "tokens.json", "123")
    with pytest.raises(ConfigError, match="token_store_path: cannot create"), store.locked():
        pass
