"""State every process on a host (or every host) must agree on: token buckets and spend totals.

Dagster builds a resource per process, so a limiter or budget kept in memory would let four
concurrent runs each spend the whole allowance. Both live here instead, behind one small
interface with two stores: a SQLite file (WAL, ``BEGIN IMMEDIATE``) for one host, and
PostgreSQL (one row per bucket, ``SELECT ... FOR UPDATE``) for several hosts.

Buckets use reservations: a caller always takes its tokens, the balance may go negative, and
the caller sleeps until the debt is repaid. One transaction per request, callers are served
in arrival order, and nobody polls.
"""

from __future__ import annotations

import os
import sqlite3
import tempfile
import threading
import time
import uuid
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from upstage_assets.upstage_api.outages import DATABASE_PATIENCE_S, survives_database_restarts


@dataclass(frozen=True)
class BucketCharge:
    """Take ``cost`` tokens from bucket ``name`` that refills at ``rate``/s up to ``capacity``."""

    name: str
    rate: float
    capacity: float
    cost: float


@dataclass(frozen=True)
class SpendCharge:
    """Add ``amount`` to ``scope`` unless that would pass ``limit`` (``None``: no limit)."""

    scope: str
    limit: float | None


def settle_buckets(
    charges: Sequence[BucketCharge], state: dict[str, tuple[float, float]], now: float, max_wait: float
) -> tuple[float, dict[str, tuple[float, float]]]:
    """Pure bucket arithmetic shared by both stores: (seconds to wait, new state).

    When the wait would exceed ``max_wait`` nothing is taken and the new state is empty.
    """
    wait = 0.0
    updated: dict[str, tuple[float, float]] = {}
    for charge in charges:
        tokens, stamp = state.get(charge.name, (charge.capacity, now))
        tokens = min(charge.capacity, tokens + max(0.0, now - stamp) * charge.rate)
        tokens -= charge.cost
        if tokens < 0:
            wait = max(wait, -tokens / charge.rate)
        updated[charge.name] = (tokens, now)
    if wait > max_wait:
        return wait, {}
    return wait, updated


def window_wait(occupied_until: list[float], capacity: int, window_s: float, now: float) -> float:
    """0 when a send fits in the window ending now, else seconds until the oldest one leaves it."""
    recent = sorted(t for t in occupied_until if t > now - window_s)
    if len(recent) < capacity:
        return 0.0
    return max(1e-3, recent[len(recent) - capacity] + window_s - now)


def settle_spend(
    amount: float, charges: Sequence[SpendCharge], totals: dict[str, float]
) -> tuple[bool, dict[str, float]]:
    """(accepted, totals after): refuse when any scope would pass its limit."""
    after = {c.scope: totals.get(c.scope, 0.0) + amount for c in charges}
    for charge in charges:
        if charge.limit is not None and after[charge.scope] > charge.limit + 1e-9:
            return False, {c.scope: totals.get(c.scope, 0.0) for c in charges}
    return True, after


class SharedStateStore(ABC):
    """Atomic read-modify-write of buckets and spend totals, visible to every process."""

    # True when a call takes well under a millisecond (a local file): callers on an event loop
    # may then call it inline instead of paying a thread hand-off per request.
    fast_enough_inline = False

    @abstractmethod
    def take_tokens(self, charges: Sequence[BucketCharge], max_wait: float = float("inf")) -> tuple[float, float]:
        """Reserve tokens in every bucket at once: (seconds to wait, local ``time.time()`` to go at).

        A wait above ``max_wait`` takes nothing. Callers should sleep until the returned time,
        not for the wait: the time spent in the transaction would otherwise bunch requests.
        """

    @abstractmethod
    def admit_send(self, name: str, capacity: int, window_s: float, skew_s: float) -> tuple[float, str | None]:
        """Admit a send now if fewer than ``capacity`` sends occupy the last ``window_s`` seconds.

        A send occupies the window up to when the server may have counted it: its send time
        plus ``skew_s`` (``mark_sent`` moves that on once its bytes are out) until
        ``complete_send`` says the answer came back (the server counted it by then). Returns
        (0, token) when admitted, else (seconds to wait, None).
        """

    @abstractmethod
    def mark_sent(self, name: str, token: str, skew_s: float) -> None:
        """An admitted send's bytes are out now: the server counts it by now + ``skew_s`` at the latest."""

    @abstractmethod
    def complete_send(self, name: str, token: str) -> None:
        """The answer to an admitted send arrived: it occupies the window no later than now."""

    @abstractmethod
    def add_spend(self, amount: float, charges: Sequence[SpendCharge]) -> tuple[bool, dict[str, float]]:
        """Add ``amount`` to every scope, or to none if any limit would be passed."""

    @abstractmethod
    def spend(self, scope: str) -> float:
        """Current total for a scope (0 when never charged)."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections."""


def default_state_dir() -> Path:
    """``$DAGSTER_HOME/upstage_rate_limits`` when Dagster has a home, else a per-user temp dir."""
    home = os.environ.get("DAGSTER_HOME")
    if home:
        return Path(home) / "upstage_rate_limits"
    return Path(tempfile.gettempdir()) / f"upstage_rate_limits_{os.getuid()}"


class SqliteStateStore(SharedStateStore):
    """One SQLite file per host. WAL lets readers run; ``BEGIN IMMEDIATE`` serialises writers."""

    fast_enough_inline = True

    def __init__(self, directory: str | Path | None = None, filename: str = "state.sqlite3"):
        self.directory = Path(directory) if directory else default_state_dir()
        self.directory.mkdir(parents=True, exist_ok=True)
        self.path = self.directory / filename
        self._lock = threading.Lock()
        self._conn = sqlite3.connect(self.path, timeout=30.0, isolation_level=None, check_same_thread=False)
        _switch_to_wal(self._conn, timeout_s=30.0)
        self._conn.execute("PRAGMA synchronous=NORMAL")
        self._conn.execute("PRAGMA busy_timeout=30000")
        with self._transaction() as cur:
            cur.execute("CREATE TABLE IF NOT EXISTS buckets (name TEXT PRIMARY KEY, tokens REAL, updated REAL)")
            cur.execute("CREATE TABLE IF NOT EXISTS spend (scope TEXT PRIMARY KEY, amount REAL)")
            cur.execute("CREATE TABLE IF NOT EXISTS send_slots (name TEXT, token TEXT, until REAL)")
            cur.execute("CREATE INDEX IF NOT EXISTS send_slots_by_name ON send_slots (name, until)")

    def _transaction(self) -> _SqliteTransaction:
        return _SqliteTransaction(self._conn, self._lock)

    def take_tokens(self, charges: Sequence[BucketCharge], max_wait: float = float("inf")) -> tuple[float, float]:
        with self._transaction() as cur:
            return self._take(cur, charges, max_wait)

    def admit_send(self, name: str, capacity: int, window_s: float, skew_s: float) -> tuple[float, str | None]:
        with self._transaction() as cur:
            return self._admit(cur, name, capacity, window_s, skew_s)

    def mark_sent(self, name: str, token: str, skew_s: float) -> None:
        with self._transaction() as cur:
            cur.execute("UPDATE send_slots SET until = MAX(until, ?) WHERE name = ? AND token = ?",
                        (time.time() + skew_s, name, token))

    def complete_send(self, name: str, token: str) -> None:
        with self._transaction() as cur:
            cur.execute("UPDATE send_slots SET until = MIN(until, ?) WHERE name = ? AND token = ?",
                        (time.time(), name, token))

    @staticmethod
    def _take(cur: sqlite3.Cursor, charges: Sequence[BucketCharge], max_wait: float) -> tuple[float, float]:
        names = [c.name for c in charges]
        marks = ",".join("?" * len(names))
        rows = cur.execute(f"SELECT name, tokens, updated FROM buckets WHERE name IN ({marks})", names)
        state = {name: (tokens, updated) for name, tokens, updated in rows}
        now = time.time()
        wait, new_state = settle_buckets(charges, state, now, max_wait)
        cur.executemany(
            "INSERT INTO buckets (name, tokens, updated) VALUES (?, ?, ?) "
            "ON CONFLICT(name) DO UPDATE SET tokens=excluded.tokens, updated=excluded.updated",
            [(name, tokens, stamp) for name, (tokens, stamp) in new_state.items()],
        )
        return wait, now + wait

    @staticmethod
    def _admit(cur: sqlite3.Cursor, name: str, capacity: int, window_s: float,
               skew_s: float) -> tuple[float, str | None]:
        now = time.time()
        cur.execute("DELETE FROM send_slots WHERE name = ? AND until <= ?", (name, now - window_s))
        until = [row[0] for row in cur.execute("SELECT until FROM send_slots WHERE name = ?", (name,))]
        wait = window_wait(until, capacity, window_s, now)
        if wait > 0:
            return wait, None
        token = uuid.uuid4().hex
        cur.execute("INSERT INTO send_slots (name, token, until) VALUES (?, ?, ?)", (name, token, now + skew_s))
        return 0.0, token

    def add_spend(self, amount: float, charges: Sequence[SpendCharge]) -> tuple[bool, dict[str, float]]:
        scopes = [c.scope for c in charges]
        with self._transaction() as cur:
            marks = ",".join("?" * len(scopes))
            totals = dict(cur.execute(f"SELECT scope, amount FROM spend WHERE scope IN ({marks})", scopes))
            accepted, after = settle_spend(amount, charges, totals)
            if accepted:
                cur.executemany(
                    "INSERT INTO spend (scope, amount) VALUES (?, ?) "
                    "ON CONFLICT(scope) DO UPDATE SET amount=excluded.amount",
                    list(after.items()),
                )
        return accepted, after

    def spend(self, scope: str) -> float:
        with self._lock:
            row = self._conn.execute("SELECT amount FROM spend WHERE scope = ?", (scope,)).fetchone()
        return float(row[0]) if row else 0.0

    def close(self) -> None:
        with self._lock:
            self._conn.close()


def _switch_to_wal(conn: sqlite3.Connection, timeout_s: float) -> None:
    """``PRAGMA journal_mode=WAL``, retried while another process holds the file.

    Several run workers that start at once on a new state file all switch it to WAL. SQLite answers
    "database is locked" at once to those that come while one converts it: the busy timeout does not
    cover that case, so it is retried here for up to ``timeout_s``."""
    deadline, delay = time.monotonic() + timeout_s, 0.005
    while True:
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() + delay > deadline:
                raise
            time.sleep(delay)
            delay = min(0.2, delay * 2)


class _SqliteTransaction:
    """``BEGIN IMMEDIATE`` ... ``COMMIT`` under the in-process lock (the connection is shared by threads)."""

    def __init__(self, conn: sqlite3.Connection, lock: threading.Lock):
        self._conn = conn
        self._lock = lock

    def __enter__(self) -> sqlite3.Cursor:
        self._lock.acquire()
        try:
            self._conn.execute("BEGIN IMMEDIATE")
        except BaseException:
            self._lock.release()
            raise
        return self._conn.cursor()

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        try:
            self._conn.execute("ROLLBACK" if exc_type else "COMMIT")
        finally:
            self._lock.release()


SCHEMA_LOCK_KEY = 0x5570_5374_6167  # arbitrary, stable: "UpStag"


def normalise_postgres_url(url: str) -> str:
    """Plain ``postgresql://`` makes SQLAlchemy 2.1 pick psycopg 3; the project ships psycopg2."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg2://" + url[len(prefix):]
    return url


class PostgresStateStore(SharedStateStore):
    """Buckets and spend in PostgreSQL so several hosts share one allowance.

    Clock: the database's ``clock_timestamp()``, so hosts with skewed clocks still agree.
    A database restart or failover is ridden out (``outages.py``): calls retry for up to
    ``outage_patience_s``, and pre-ping replaces the connections the restart cut.
    """

    outage_patience_s = DATABASE_PATIENCE_S

    def __init__(self, url: str, table_prefix: str = "upstage"):
        import sqlalchemy

        self._sa = sqlalchemy
        self.engine = sqlalchemy.create_engine(normalise_postgres_url(url), pool_pre_ping=True, pool_size=2)
        self.buckets_table = f"{table_prefix}_rate_buckets"
        self.spend_table = f"{table_prefix}_spend"
        self.sends_table = f"{table_prefix}_send_slots"
        with self.engine.begin() as conn:
            # Concurrent CREATE TABLE IF NOT EXISTS can still collide in PostgreSQL: serialise it.
            conn.execute(sqlalchemy.text("SELECT pg_advisory_xact_lock(:key)"), {"key": SCHEMA_LOCK_KEY})
            conn.execute(sqlalchemy.text(
                f"CREATE TABLE IF NOT EXISTS {self.buckets_table} "
                "(name TEXT PRIMARY KEY, tokens DOUBLE PRECISION NOT NULL, updated DOUBLE PRECISION NOT NULL)"))
            conn.execute(sqlalchemy.text(
                f"CREATE TABLE IF NOT EXISTS {self.spend_table} "
                "(scope TEXT PRIMARY KEY, amount DOUBLE PRECISION NOT NULL)"))
            conn.execute(sqlalchemy.text(
                f"CREATE TABLE IF NOT EXISTS {self.sends_table} "
                "(name TEXT NOT NULL, token TEXT NOT NULL, until DOUBLE PRECISION NOT NULL)"))
            conn.execute(sqlalchemy.text(
                f"CREATE INDEX IF NOT EXISTS {self.sends_table}_by_name ON {self.sends_table} (name, until)"))

    @survives_database_restarts
    def take_tokens(self, charges: Sequence[BucketCharge], max_wait: float = float("inf")) -> tuple[float, float]:
        text = self._sa.text
        names = sorted(c.name for c in charges)  # lock rows in one order: no deadlocks
        with self.engine.begin() as conn:
            now = float(conn.execute(text("SELECT extract(epoch FROM clock_timestamp())")).scalar_one())
            for name in names:
                conn.execute(text(
                    f"INSERT INTO {self.buckets_table} (name, tokens, updated) VALUES (:n, :t, :u) "
                    "ON CONFLICT (name) DO NOTHING"),
                    {"n": name, "t": next(c.capacity for c in charges if c.name == name), "u": now})
            rows = conn.execute(text(
                f"SELECT name, tokens, updated FROM {self.buckets_table} "
                "WHERE name = ANY(:names) ORDER BY name FOR UPDATE"), {"names": names}).all()
            state = {row[0]: (float(row[1]), float(row[2])) for row in rows}
            now = float(conn.execute(text("SELECT extract(epoch FROM clock_timestamp())")).scalar_one())
            local_now = time.time()
            wait, new_state = settle_buckets(charges, state, now, max_wait)
            for name, (tokens, stamp) in new_state.items():
                conn.execute(text(
                    f"UPDATE {self.buckets_table} SET tokens = :t, updated = :u WHERE name = :n"),
                    {"n": name, "t": tokens, "u": stamp})
        return wait, local_now + wait

    @survives_database_restarts
    def admit_send(self, name: str, capacity: int, window_s: float, skew_s: float) -> tuple[float, str | None]:
        text = self._sa.text
        with self.engine.begin() as conn:
            # The bucket row doubles as the lock that serialises senders on this name.
            conn.execute(text(f"INSERT INTO {self.buckets_table} (name, tokens, updated) VALUES (:n, 0, 0) "
                              "ON CONFLICT (name) DO NOTHING"), {"n": name})
            conn.execute(text(f"SELECT name FROM {self.buckets_table} WHERE name = :n FOR UPDATE"), {"n": name})
            now = float(conn.execute(text("SELECT extract(epoch FROM clock_timestamp())")).scalar_one())
            conn.execute(text(f"DELETE FROM {self.sends_table} WHERE name = :n AND until <= :cut"),
                         {"n": name, "cut": now - window_s})
            until = [float(r[0]) for r in conn.execute(
                text(f"SELECT until FROM {self.sends_table} WHERE name = :n"), {"n": name})]
            wait = window_wait(until, capacity, window_s, now)
            if wait > 0:
                return wait, None
            token = uuid.uuid4().hex
            conn.execute(text(f"INSERT INTO {self.sends_table} (name, token, until) VALUES (:n, :t, :u)"),
                         {"n": name, "t": token, "u": now + skew_s})
        return 0.0, token

    @survives_database_restarts
    def mark_sent(self, name: str, token: str, skew_s: float) -> None:
        with self.engine.begin() as conn:
            conn.execute(self._sa.text(
                f"UPDATE {self.sends_table} SET until = GREATEST(until, extract(epoch FROM clock_timestamp()) + :s) "
                "WHERE name = :n AND token = :t"), {"n": name, "t": token, "s": skew_s})

    @survives_database_restarts
    def complete_send(self, name: str, token: str) -> None:
        text = self._sa.text
        with self.engine.begin() as conn:
            conn.execute(text(f"UPDATE {self.sends_table} SET until = LEAST(until, "
                              "extract(epoch FROM clock_timestamp())) WHERE name = :n AND token = :t"),
                         {"n": name, "t": token})

    @survives_database_restarts
    def add_spend(self, amount: float, charges: Sequence[SpendCharge]) -> tuple[bool, dict[str, float]]:
        text = self._sa.text
        scopes = sorted(c.scope for c in charges)
        with self.engine.begin() as conn:
            for scope in scopes:
                conn.execute(text(
                    f"INSERT INTO {self.spend_table} (scope, amount) VALUES (:s, 0) ON CONFLICT (scope) DO NOTHING"),
                    {"s": scope})
            rows = conn.execute(text(
                f"SELECT scope, amount FROM {self.spend_table} WHERE scope = ANY(:scopes) "
                "ORDER BY scope FOR UPDATE"), {"scopes": scopes}).all()
            totals = {row[0]: float(row[1]) for row in rows}
            accepted, after = settle_spend(amount, charges, totals)
            if accepted:
                for scope, total in after.items():
                    conn.execute(text(f"UPDATE {self.spend_table} SET amount = :a WHERE scope = :s"),
                                 {"s": scope, "a": total})
        return accepted, after

    @survives_database_restarts
    def spend(self, scope: str) -> float:
        with self.engine.connect() as conn:
            value = conn.execute(self._sa.text(f"SELECT amount FROM {self.spend_table} WHERE scope = :s"),
                                 {"s": scope}).scalar()
        return float(value) if value is not None else 0.0

    def close(self) -> None:
        self.engine.dispose()


def open_state_store(url_or_dir: str | None) -> SharedStateStore:
    """``postgresql://...`` → PostgreSQL; a directory path or ``None`` → the host's SQLite file."""
    if url_or_dir and url_or_dir.startswith(("postgresql", "postgres://")):
        return PostgresStateStore(url_or_dir)
    return SqliteStateStore(url_or_dir or None)
