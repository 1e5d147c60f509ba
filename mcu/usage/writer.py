"""The writer thread: fsyncs the journal and puts records into the store, off the media loop.

The loop hands it work through a queue and never waits for it. A store that is down (PostgreSQL
restarting, a locked SQLite file) is retried with backoff; the records wait in memory and, in any
case, in the journal, so nothing is lost while it is away.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from mcu.log import event
from mcu.usage.journal import Journal
from mcu.usage.records import CallRecord, MeetingRecord
from mcu.usage.store import Store

log = logging.getLogger("mcu.usage")

RETRY_INITIAL = 0.5
RETRY_MAX = 30.0


@dataclass
class Batch:
    calls: list[CallRecord] = field(default_factory=list)
    meetings: list[MeetingRecord] = field(default_factory=list)
    done_files: list[Path] = field(default_factory=list)  # set-aside journals to delete once stored


@dataclass
class WriterStatus:
    stored_calls: int = 0
    stored_meetings: int = 0
    fsyncs: int = 0
    failures: int = 0
    pending: int = 0
    error: str = ""


class StoreWriter:
    def __init__(self, open_store: Callable[[], Store], journal: Journal) -> None:
        self.open_store = open_store
        self.journal = journal
        self.status = WriterStatus()
        self._queue: queue.Queue[Batch | str | None] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="usage-writer", daemon=True)
        self._idle = threading.Event()
        self._idle.set()
        self._store: Store | None = None
        self._counts = threading.Lock()  # status.pending moves on both threads

    def start(self) -> None:
        self._thread.start()

    def sync(self) -> None:
        """fsync the journal soon (after an open or a close)."""
        self._idle.clear()
        self._queue.put("sync")

    def store(self, batch: Batch) -> None:
        self._idle.clear()
        with self._counts:
            self.status.pending += len(batch.calls) + len(batch.meetings)
        self._queue.put(batch)

    def wait_idle(self, timeout: float) -> bool:
        """Until everything handed over so far was tried once; True if all of it is in the store
        (False: the store is down, the records wait in the journal and in memory)."""
        self._idle.clear()
        self._queue.put("idle")
        self._idle.wait(timeout)
        return self.status.pending == 0

    def stop(self, timeout: float = 10.0) -> None:
        self._queue.put(None)
        self._thread.join(timeout)

    def _run(self) -> None:
        delay = RETRY_INITIAL
        waiting: list[Batch] = []
        stopping = False
        while True:
            try:
                item = self._queue.get(timeout=delay if waiting else None)
            except queue.Empty:
                item = "retry"
            if item is None:
                stopping = True
            elif item == "sync":
                self._fsync()
            elif isinstance(item, Batch):
                waiting.append(item)
            if waiting:
                if self._write(waiting):
                    waiting, delay = [], RETRY_INITIAL
                else:
                    delay = min(RETRY_MAX, delay * 2)
                    if stopping:  # they are in the journal: replayed on the next start
                        break
                    if self._queue.empty():
                        self._idle.set()  # tried; waiting for the store must not hold up a stop
                    continue
            if stopping:
                break
            if self._queue.empty():
                self._idle.set()
        if self._store is not None:
            self._store.close()
        self._idle.set()

    def _fsync(self) -> None:
        try:
            self.journal.fsync()
            self.status.fsyncs += 1
        except (OSError, ValueError) as exc:
            event(log, "usage.fsync_failed", logging.ERROR, path=str(self.journal.path), error=str(exc))

    def _write(self, batches: list[Batch]) -> bool:
        try:
            if self._store is None:
                self._store = self.open_store()
            calls = [c for b in batches for c in b.calls]
            meetings = [m for b in batches for m in b.meetings]
            self._store.insert(calls, meetings)
        except Exception as exc:  # noqa: BLE001 - a store down must not end the thread
            self.status.failures += 1
            if self.status.error != str(exc):
                event(log, "usage.store_failed", logging.ERROR, error=str(exc),
                      note="records are kept in the journal and retried")
            self.status.error = str(exc)
            if self._store is not None:
                with contextlib.suppress(Exception):  # a broken connection may fail to close too
                    self._store.close()
                self._store = None
            return False
        if self.status.error:
            event(log, "usage.store_recovered")
        self.status.error = ""
        self.status.stored_calls += len(calls)
        self.status.stored_meetings += len(meetings)
        with self._counts:
            self.status.pending -= len(calls) + len(meetings)
        for batch in batches:
            for path in batch.done_files:
                path.unlink(missing_ok=True)
        return True
