"""The progress bar ``billbridge sync`` draws on a terminal (and only there)."""

from __future__ import annotations

import io

import pytest

from desktop.cli.sync import ProgressBar
from desktop.jobs import JobContext


class Terminal(io.StringIO):
    """A stream that says it is a terminal."""

    def isatty(self) -> bool:
        return True


def test_no_bar_when_not_a_terminal() -> None:
    stream = io.StringIO()
    bar = ProgressBar(stream, "acme")
    JobContext(progress_callback=bar).progress(10, 100)
    bar.close()
    assert stream.getvalue() == ""


def test_a_count_that_restarts_never_shows_a_negative_rate(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    now = [100.0]
    monkeypatch.setattr("time.monotonic", lambda: now[0])
    stream = Terminal()
    bar = ProgressBar(stream, "acme")
    job = JobContext(progress_callback=bar)
    for done in range(0, 10_000, 1_000):  # the sync's records ...
        job.progress(done)
        now[0] += 1.0
    job.progress(0, 5, "Reading subscriptions")  # ... then the health step's 5 steps
    drawn = stream.getvalue().split("\r")[-1]
    assert "0/5" in drawn
    assert "-" not in drawn.split("]")[-1], drawn
