"""Prometheus metrics, one registry per app (so several apps can share a process)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.multiprocess import MultiProcessCollector

from app.call.actions import (
    CallBegan,
    CallEnded,
    DeadAirRecovered,
    DeadAirStep,
    Measure,
    Measured,
    Report,
    SessionSwitched,
)

LATENCY_BUCKETS = (0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0)
CLEAR_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25)
DEAD_AIR_BUCKETS = (1.0, 2.0, 3.0, 4.0, 5.0, 7.5, 10.0, 15.0, 20.0, 30.0, 60.0)

CONTENT_TYPE = CONTENT_TYPE_LATEST


class PrometheusMetrics:
    """The process's metrics; ``render()`` is the /metrics body.

    With ``multiprocess_dir`` (PROMETHEUS_MULTIPROC_DIR, set before prometheus_client
    was imported: the worker supervisor does), every worker writes its values there
    and ``render()`` sums all the workers', whichever answers: counters and histograms
    added up, the calls in progress summed over the workers alive (``livesum``)."""

    def __init__(self, multiprocess_dir: str | None = None) -> None:
        self.registry = CollectorRegistry()
        self.multiprocess_dir = multiprocess_dir
        r = self.registry
        self.active = Gauge(
            "phonebot_active_calls",
            "Calls in progress.",
            registry=r,
            multiprocess_mode="livesum",
        )
        self.calls = Counter("phonebot_calls", "Calls ended, by outcome.", ["outcome"], registry=r)
        self.turn = Histogram(
            "phonebot_turn_latency_seconds",
            "Caller stops talking -> first agent audio sent to Twilio.",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.clear = Histogram(
            "phonebot_interrupt_to_clear_seconds",
            "Gemini's `interrupted` received -> Twilio `clear` sent.",
            buckets=CLEAR_BUCKETS,
            registry=r,
        )
        self.switches = Counter(
            "phonebot_gemini_session_switches",
            "Moves to a new Gemini session, by reason (go_away, reconnect, renewal).",
            ["reason"],
            registry=r,
        )
        self.errors = Counter(
            "phonebot_gemini_errors", "Calls ended because the Gemini session failed.", registry=r
        )
        self.token_count = Counter(
            "phonebot_gemini_tokens", "Tokens Gemini reported as used.", registry=r
        )
        self.dead_air_steps = Counter(
            "phonebot_dead_air_steps",
            "Dead-air recovery steps taken (nudge, resume, seed, apology), by why the agent"
            " owed the caller audio.",
            ["cause", "step"],
            registry=r,
        )
        self.dead_air_recovered = Histogram(
            "phonebot_dead_air_recovered_seconds",
            "Dead air the caller heard before agent audio came back, by the last step taken.",
            ["step"],
            buckets=DEAD_AIR_BUCKETS,
            registry=r,
        )
        self.sink_failures = Counter(
            "phonebot_sink_failures",
            "Failures of a call's sinks (call record, recording, metrics); the calls went on.",
            ["sink"],
            registry=r,
        )
        self.registry_down = Counter(
            "phonebot_registry_unreachable",
            "Times the shared registry (Redis) could not be reached; new calls got the busy"
            " answer meanwhile, calls in progress went on.",
            registry=r,
        )
        self.lost_records = Counter(
            "phonebot_records_lost",
            "Call record writes dropped: the records database was down longer than its"
            " backlog holds (each is also logged as an error).",
            registry=r,
        )
        self.orphans = Counter(
            "phonebot_calls_orphaned",
            "Calls whose process died (their lease ran out), closed as failed by this one.",
            registry=r,
        )

    def registry_unreachable(self) -> None:
        self.registry_down.inc()

    def records_lost(self, count: int) -> None:
        self.lost_records.inc(count)

    def orphaned(self) -> None:
        self.orphans.inc()

    def call_started(self) -> None:
        self.active.inc()

    def call_ended(self, outcome: str) -> None:
        self.active.dec()
        self.calls.labels(outcome=outcome).inc()
        if outcome == "agent_failed":
            self.errors.inc()

    def turn_latency(self, seconds: float) -> None:
        self.turn.observe(seconds)

    def interrupt_to_clear(self, seconds: float) -> None:
        self.clear.observe(seconds)

    def session_switched(self, reason: str) -> None:
        self.switches.labels(reason=reason).inc()

    def tokens(self, count: int) -> None:
        if count > 0:
            self.token_count.inc(count)

    def dead_air_step(self, cause: str, step: str) -> None:
        self.dead_air_steps.labels(cause=cause, step=step).inc()

    def dead_air_over(self, step: str, seconds: float) -> None:
        self.dead_air_recovered.labels(step=step).observe(seconds)

    def sink_failed(self, sink: str) -> None:
        self.sink_failures.labels(sink=sink).inc()

    def render(self) -> bytes:
        if self.multiprocess_dir is None:
            return generate_latest(self.registry)
        every_worker = CollectorRegistry()
        MultiProcessCollector(every_worker, path=self.multiprocess_dir)  # type: ignore[no-untyped-call]
        return generate_latest(every_worker)


class MetricsSink:
    """A call's reports into the process's metrics (in memory: cheap on the loop)."""

    name = "metrics"

    def __init__(self, metrics: PrometheusMetrics) -> None:
        self._metrics = metrics

    def report(self, report: Report) -> None:
        metrics = self._metrics
        if isinstance(report, CallBegan):
            metrics.call_started()
        elif isinstance(report, Measured):
            if report.measure is Measure.TURN_LATENCY:
                metrics.turn_latency(report.value)
            elif report.measure is Measure.INTERRUPT_TO_CLEAR:
                metrics.interrupt_to_clear(report.value)
            else:
                metrics.tokens(int(report.value))
        elif isinstance(report, SessionSwitched):
            metrics.session_switched(report.reason)
        elif isinstance(report, DeadAirStep):
            metrics.dead_air_step(report.cause, report.step)
        elif isinstance(report, DeadAirRecovered):
            metrics.dead_air_over(report.step, report.silent_s)
        elif isinstance(report, CallEnded) and report.admitted:
            metrics.call_ended(report.end.outcome.value)

    async def close(self) -> None:
        """Nothing is held back."""
