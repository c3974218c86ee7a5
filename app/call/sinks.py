"""A call's sinks (its record, its recording, the metrics) behind one fan-out that
never raises into the call: a sink that fails is logged (once per call) and counted,
and the call goes on without it. Sinks that write to disk do it off the event loop
(``app/sinks``); this module only fans out."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from app.call.actions import Report


class Sink(Protocol):
    name: str

    def report(self, report: Report) -> None:
        """Take one report; must return quickly (queue disk work, never wait on it)."""

    async def close(self) -> None:
        """The call is over: everything reported is settled when this returns."""


class CallSinks:
    def __init__(
        self,
        sinks: Sequence[Sink],
        log: logging.LoggerAdapter[Any] | logging.Logger,
        on_failure: Callable[[str], None] | None = None,
    ) -> None:
        self._sinks = list(sinks)
        self._log = log
        self._on_failure = on_failure
        self.failures: dict[str, int] = {}

    def add(self, sink: Sink) -> None:
        self._sinks.append(sink)

    def report(self, report: Report) -> None:
        for sink in self._sinks:
            try:
                sink.report(report)
            except Exception as error:  # a sink must never hurt the call
                self.failed(sink.name, error)

    async def close(self) -> None:
        for sink in self._sinks:
            try:
                await sink.close()
            except Exception as error:  # likewise at the end
                self.failed(sink.name, error)

    def failed(self, name: str, error: BaseException) -> None:
        """Count a sink's failure; the first of the call is logged, with its cause."""
        count = self.failures.get(name, 0) + 1
        self.failures[name] = count
        if self._on_failure is not None:
            self._on_failure(name)
        if count == 1:
            self._log.error("the %s failed (%r); the call goes on without it", name, error)
