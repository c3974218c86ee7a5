"""Where a call's reports go: its record (SQLite), its recording (WAV), the metrics
(Prometheus). Disk work runs on one writer thread, never on the event loop."""
