"""A durable home for OAuth2 tokens that Discord rotates.

Discord invalidates a refresh token the moment it is used and hands out a new one. A
tap that only keeps the new token in memory works for one run and then fails every run
after it, because the configured `refresh_token` is already spent. So every refresh
response is written here, atomically and before the new access token is used, and the
next run starts from it.

File format (JSON, mode 0600, one file per OAuth2 client)::

    {
      "version": 1,
      "client_id": "123...",
      "chains": [
        {
          "grant": "refresh_token",          # or "client_credentials"
          "lineage": ["<sha256 of each refresh token of this chain, oldest first>"],
          "refresh_token": "...", "access_token": "...", "token_type": "Bearer",
          "scope": "identify guilds", "expires_at": 1767225600.0, "lifetime": 604800,
          "updated_at": 1766620800.0
        }
      ]
    }

A *chain* is one authorization followed through its rotations. The configured refresh
token selects the chain whose lineage contains its fingerprint: then the stored token
is newer than the configured one and wins. A configured token that is in no chain is a
new authorization (the user re-authorized) and starts a new chain. Keeping several
chains lets two users of the same client id share the default file without one
overwriting the other's tokens. Fingerprints are SHA-256 digests, so the lineage never
stores a spent token itself.

Writers hold an exclusive lock on a sibling `.lock` file for the whole
read-refresh-write sequence, so two runs never refresh the same token twice or lose
each other's writes; readers need no lock because writes are atomic renames.
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import hashlib
import json
import os
import re
import sys
import tempfile
import time
import typing as t
from pathlib import Path

from typing_extensions import override

from tap_discord.errors import ConfigError

if t.TYPE_CHECKING:
    from collections.abc import Iterator

STORE_VERSION = 1
#: Chains kept per file; the least recently updated ones are dropped beyond this.
MAX_CHAINS = 16
#: Fingerprints kept per chain (one per refresh; old ones only matter for stale configs).
MAX_LINEAGE = 200
#: How long to wait for another run that is refreshing the same client's token.
LOCK_TIMEOUT_SECONDS = 300.0
_LOCK_POLL_SECONDS = 0.05

Grant = t.Literal["refresh_token", "client_credentials"]


def fingerprint(secret: str) -> str:
    """A stable, non-reversible name for a token (to recognise it without storing it)."""
    return "sha256:" + hashlib.sha256(secret.encode("utf-8")).hexdigest()


def default_store_path(client_id: str) -> Path:
    """Per-user default: `$XDG_STATE_HOME/tap-discord/oauth-<client_id>.json`.

    State, not config or cache: it changes on every refresh and losing it means
    re-authorizing. On Windows it lives under `%LOCALAPPDATA%`.
    """
    safe_id = re.sub(r"[^A-Za-z0-9_.-]", "_", client_id.strip()) or "client"
    if sys.platform == "win32":  # pragma: no cover - Linux is what CI runs
        base = Path(os.environ.get("LOCALAPPDATA") or Path.home() / "AppData" / "Local")
    else:
        base = Path(os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state")
    return base / "tap-discord" / f"oauth-{safe_id}.json"


@dataclasses.dataclass(frozen=True)
class StoredToken:
    """One chain's newest tokens. Its repr never shows a token."""

    grant: Grant
    lineage: tuple[str, ...]
    refresh_token: str | None
    access_token: str | None
    scope: str | None = None
    token_type: str = "Bearer"  # noqa: S105 - a type name, not a secret
    #: Epoch seconds after which Discord rejects the access token; None = unknown.
    expires_at: float | None = None
    #: The `expires_in` Discord granted, to size the refresh margin; None = unknown.
    lifetime: float | None = None
    updated_at: float = 0.0

    @override
    def __repr__(self) -> str:
        """Describe the token without any secret (reprs end up in logs and tracebacks)."""
        return (
            f"StoredToken(grant={self.grant!r}, scope={self.scope!r}, "
            f"expires_at={self.expires_at!r}, lineage={len(self.lineage)} tokens, "
            f"access_token={'set' if self.access_token else 'none'}, "
            f"refresh_token={'set' if self.refresh_token else 'none'})"
        )

    __str__ = __repr__

    @property
    def scopes(self) -> frozenset[str]:
        """The granted scopes as a set (Discord separates them with spaces)."""
        return frozenset((self.scope or "").split())

    def matches(self, key: str) -> bool:
        """Whether this chain is the one a configured token (or grant key) selects."""
        return key in self.lineage

    def to_json(self) -> dict[str, t.Any]:
        """The stored form."""
        return dataclasses.asdict(self) | {"lineage": list(self.lineage)}

    @classmethod
    def from_json(cls, data: t.Mapping[str, t.Any]) -> StoredToken:
        """Parse one chain, rejecting anything that is not ours."""
        grant = data.get("grant")
        if grant not in ("refresh_token", "client_credentials"):
            raise ValueError("unknown grant")
        lineage = data.get("lineage")
        if not isinstance(lineage, list) or not all(isinstance(x, str) for x in lineage):
            raise ValueError("lineage is not a list of fingerprints")
        return cls(
            grant=grant,
            lineage=tuple(lineage),
            refresh_token=_opt_str(data.get("refresh_token")),
            access_token=_opt_str(data.get("access_token")),
            scope=_opt_str(data.get("scope")),
            token_type=str(data.get("token_type") or "Bearer"),
            expires_at=_opt_float(data.get("expires_at")),
            lifetime=_opt_float(data.get("lifetime")),
            updated_at=float(data.get("updated_at") or 0.0),
        )


class TokenStore:
    """The token file of one OAuth2 client: lookup, atomic save, and a cross-process lock."""

    def __init__(self, path: str | os.PathLike[str], client_id: str) -> None:
        """Point at the file; nothing is read or created until needed."""
        self.path = Path(path).expanduser()
        self.client_id = client_id
        #: Why the last `load` ignored the file's content (for a warning), if it did.
        self.problem: str | None = None

    @override
    def __repr__(self) -> str:
        """Path and client id only."""
        return f"TokenStore({str(self.path)!r}, client_id={self.client_id!r})"

    @property
    def lock_path(self) -> Path:
        """The sibling file that `locked` holds (never deleted: that would race)."""
        return self.path.with_name(self.path.name + ".lock")

    # Reading ----------------------------------------------------------------------------

    def load(self) -> list[StoredToken]:
        """Every chain in the file; empty when there is no usable file.

        An unreadable or foreign file is not fatal here: the caller falls back to the
        configured tokens and `problem` says why. Saving refuses to overwrite a file
        that belongs to another client (see `save`).
        """
        self.problem = None
        try:
            raw = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return []
        except OSError as exc:
            self.problem = f"cannot read it ({exc.strerror or type(exc).__name__})"
            return []
        try:
            data = json.loads(raw)
            if not isinstance(data, dict) or data.get("version") != STORE_VERSION:
                raise ValueError(f"not a version {STORE_VERSION} token store")
            if str(data.get("client_id")) != self.client_id:
                self.problem = "it belongs to another client_id"
                return []
            chains = data.get("chains")
            if not isinstance(chains, list):
                raise ValueError("no chains")
            return [StoredToken.from_json(c) for c in chains if isinstance(c, dict)]
        except ValueError as exc:
            # json's messages quote the document; keep only our own words.
            reason = "not valid JSON" if isinstance(exc, json.JSONDecodeError) else str(exc)
            self.problem = f"it is damaged ({reason})"
            return []

    def find(self, key: str) -> StoredToken | None:
        """The chain a configured refresh token (or grant key) selects, if stored."""
        for chain in self.load():
            if chain.matches(key):
                return chain
        return None

    # Writing ----------------------------------------------------------------------------

    def save(self, token: StoredToken) -> None:
        """Replace `token`'s chain in the file, atomically, durably, mode 0600.

        Call it with the lock held. The new content is written to a temporary file in the
        same directory, flushed to disk, then renamed over the old file and the directory
        is synced: a crash at any point leaves either the old or the new file, never a
        torn one.
        """
        chains = [c for c in self._load_for_save() if not _same_chain(c, token)]
        chains.insert(0, token)
        chains.sort(key=lambda c: c.updated_at, reverse=True)
        document = {
            "version": STORE_VERSION,
            "client_id": self.client_id,
            "chains": [c.to_json() for c in chains[:MAX_CHAINS]],
        }
        payload = json.dumps(document, indent=2, sort_keys=True).encode("utf-8")
        self._ensure_dir()
        self._remove_stale_temp_files()
        fd, tmp = tempfile.mkstemp(
            prefix=f".{self.path.name}.", suffix=".tmp", dir=str(self.path.parent)
        )
        try:
            with os.fdopen(fd, "wb") as handle:
                if hasattr(os, "fchmod"):
                    os.fchmod(handle.fileno(), 0o600)
                handle.write(payload)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
        _fsync_dir(self.path.parent)

    def check_writable(self) -> None:
        """Fail before a refresh, not after it.

        Discord retires the old refresh token the moment it issues a new one, so a store
        that cannot take the new one would lose both.
        """
        problem: str | None = None
        if self.path.exists() and not self.path.is_file():
            problem = "it is not a regular file"
        else:
            try:
                self._ensure_dir()
                fd, probe = tempfile.mkstemp(
                    prefix=f".{self.path.name}.", suffix=".tmp", dir=str(self.path.parent)
                )
                os.close(fd)
                os.unlink(probe)
            except OSError as exc:
                problem = exc.strerror or type(exc).__name__
        if problem is not None:
            raise ConfigError(
                f"token_store_path: cannot save tokens to {self.path} ({problem}); point "
                "token_store_path at a writable file that survives between runs"
            )

    def _load_for_save(self) -> list[StoredToken]:
        """Current chains, refusing to clobber another client's file."""
        chains = self.load()
        if self.problem == "it belongs to another client_id":
            raise ConfigError(
                f"token_store_path {self.path} holds the tokens of another OAuth2 client; "
                "set token_store_path to a file of its own for this client_id"
            )
        return chains

    def _ensure_dir(self) -> None:
        """Create the directory, private to the user, if it is missing."""
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)

    def _remove_stale_temp_files(self) -> None:
        """Temp files left by a run killed mid-write (only lock holders write them)."""
        for stale in self.path.parent.glob(f".{self.path.name}.*.tmp"):
            with contextlib.suppress(OSError):
                stale.unlink()

    # Locking ----------------------------------------------------------------------------

    @contextlib.contextmanager
    def locked(self, timeout: float = LOCK_TIMEOUT_SECONDS) -> Iterator[None]:
        """Hold the store's exclusive lock (waits for another run, up to `timeout`).

        An OS lock (`flock`) is released by the kernel when its holder dies, so a killed
        run never leaves the store locked.
        """
        try:
            self._ensure_dir()
            fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:
            # Checked before any refresh: failing here costs nothing, while failing to
            # save after Discord rotated the token would lose it.
            raise ConfigError(
                f"token_store_path: cannot create {self.lock_path} "
                f"({exc.strerror or type(exc).__name__}); point token_store_path at a "
                "writable file that survives between runs"
            ) from None
        try:
            deadline = time.monotonic() + timeout
            while not _try_lock(fd):
                if time.monotonic() >= deadline:
                    raise ConfigError(
                        f"token store {self.path} stayed locked for {timeout:.0f} s by another "
                        "tap-discord run; wait for it to finish, or set token_store_path to "
                        "a different file per concurrent job"
                    )
                time.sleep(_LOCK_POLL_SECONDS)
            try:
                yield
            finally:
                _unlock(fd)
        finally:
            os.close(fd)


def _same_chain(a: StoredToken, b: StoredToken) -> bool:
    """Two entries of one authorization (they share a fingerprint)."""
    return a.grant == b.grant and bool(set(a.lineage) & set(b.lineage))


def _opt_str(value: object) -> str | None:
    return str(value) if value not in (None, "") else None


def _opt_float(value: object) -> float | None:
    if value is None:
        return None
    if isinstance(value, int | float | str):
        return float(value)
    raise ValueError("not a number")


def _fsync_dir(directory: Path) -> None:
    """Make the rename itself durable (POSIX; a no-op where directories can't be opened)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:  # pragma: no cover - Windows
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover - some filesystems refuse fsync on directories
        pass
    finally:
        os.close(fd)


if sys.platform == "win32":  # pragma: no cover - Linux is what CI runs
    import msvcrt

    def _try_lock(fd: int) -> bool:
        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True

    def _unlock(fd: int) -> None:
        os.lseek(fd, 0, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)

else:
    import fcntl

    def _try_lock(fd: int) -> bool:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                return False
            raise
        return True

    def _unlock(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_UN)
