"""Riding out a database restart or failover: recognise the outage, retry for a bounded time.

The shared limiter/budget state (PostgreSQL when several hosts share an account) and the Dagster
instance live in databases that restart for upgrades and fail over (RDS Multi-AZ: one to two
minutes). A call that meets the outage is retried with backoff for up to ``patience_s``; any
other error, or an outage that lasts longer, is raised as before.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable
from typing import Any, TypeVar

logger = logging.getLogger(__name__)

DATABASE_PATIENCE_S = 180.0
T = TypeVar("T")
OUTAGE_CLASS_NAMES = frozenset({"OperationalError", "InterfaceError", "DisconnectionError", "AdminShutdown"})


def is_database_outage(exc: BaseException) -> bool:
    """Whether ``exc`` (or what caused it) says the database is unreachable or restarting."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        module = type(current).__module__
        if module.startswith(("sqlalchemy", "psycopg2", "psycopg")) and (
                type(current).__name__ in OUTAGE_CLASS_NAMES or getattr(current, "connection_invalidated", False)):
            return True
        current = current.__cause__ or current.__context__
    return False


def retry_through_outage(call: Callable[[], T], patience_s: float = DATABASE_PATIENCE_S,
                         sleep: Callable[[float], None] = time.sleep) -> T:
    deadline = time.monotonic() + patience_s
    delay = 0.5
    while True:
        try:
            return call()
        except Exception as exc:
            if not is_database_outage(exc) or time.monotonic() + delay > deadline:
                raise
            logger.warning("database unreachable (%s); retrying in %.1f s", type(exc).__name__, delay)
            sleep(delay)
            delay = min(delay * 2, 10.0)


def survives_database_restarts(method: Callable[..., T]) -> Callable[..., T]:
    """Decorate a store method: retried through an outage for the store's ``outage_patience_s``."""

    @functools.wraps(method)
    def retried(self: Any, *args: Any, **kwargs: Any) -> T:
        return retry_through_outage(lambda: method(self, *args, **kwargs),
                                    getattr(self, "outage_patience_s", DATABASE_PATIENCE_S))

    return retried
