"""One thread for the server's disk work (call records, recordings), done in the order
it was given, so the event loop never waits on a disk (a slow or full one included)."""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import queue
import threading
from collections.abc import Callable

log = logging.getLogger(__name__)

# At a call's end, how long its sinks may hold the socket's close for the disk to catch
# up: records are normally written in milliseconds; a stuck disk must not hold the call.
SETTLE_TIMEOUT_S = 2.0
Work = Callable[[], object]
OnError = Callable[[BaseException], None]


class DiskWriter:
    def __init__(self) -> None:
        self._queue: queue.SimpleQueue[tuple[Work, OnError] | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def submit(self, work: Work, on_error: OnError) -> None:
        """Run ``work`` on the writer thread, after everything submitted before it; its
        exception goes to ``on_error`` (on that thread)."""
        self._start()
        self._queue.put((work, on_error))

    async def drain(self, timeout_s: float | None = None) -> bool:
        """Wait (without blocking the loop) until everything submitted so far is done, at
        most ``timeout_s``; False if the disk is still busy with it then."""
        done: concurrent.futures.Future[None] = concurrent.futures.Future()
        self.submit(lambda: done.set_result(None), done.set_exception)
        try:
            await asyncio.wait_for(asyncio.shield(asyncio.wrap_future(done)), timeout_s)
        except TimeoutError:
            return False
        return True

    def close(self) -> None:
        """Finish the work queued, then stop the thread (at shutdown)."""
        with self._lock:
            thread, self._thread = self._thread, None
        if thread is not None:
            self._queue.put(None)
            thread.join()

    def _start(self) -> None:
        if self._thread is not None:
            return
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="disk writer", daemon=True)
                self._thread.start()

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            work, on_error = item
            try:
                work()
            except Exception as error:  # handed to the sink that asked for the work
                try:
                    on_error(error)
                except Exception:  # the error handler itself failed: still keep writing
                    log.exception("a disk write failed and so did its error handler")
