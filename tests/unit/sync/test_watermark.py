"""The incremental pass cursor (:mod:`desktop.sync.watermark`) on its own."""

from __future__ import annotations

from desktop.sync.watermark import GRAIN, OVERLAP, PassTracker, http_date

START = 1_800_000_000  # when the first pass began, by the source's clock


Sent = list[tuple[str, dict[str, object], int | None]]


def finish(tracker: PassTracker, sent: Sent) -> list[str]:
    delivered = [rid for rid, payload, changed in sent if tracker.accept(rid, payload, changed)]
    tracker.cursor(None)
    return delivered


def test_records_without_updated_at_do_not_hold_the_watermark_back() -> None:
    first = PassTracker(None)
    first.begin(START)
    stampless = [(f"inv_{n}", {"id": f"inv_{n}", "total": n}, None) for n in range(3)]
    assert finish(first, stampless) == ["inv_0", "inv_1", "inv_2"]
    cursor = first.cursor(None)
    # The watermark comes from when the pass began, not from the records' stamps (none).
    assert cursor["watermark"] == (START - OVERLAP) // GRAIN * GRAIN
    again = PassTracker(cursor)
    assert not again.full
    assert again.lower == cursor["watermark"]


def test_records_sent_again_inside_the_overlap_are_dropped_unless_changed() -> None:
    first = PassTracker(None)
    first.begin(START)
    recent = {"id": "cus_1", "email": "a@example.com"}
    old = {"id": "cus_2", "email": "b@example.com"}
    many = [(f"cus_x{n}", {"id": f"cus_x{n}"}, START - 10) for n in range(40)]
    finish(first, [("cus_2", old, START - 86_400), ("cus_1", recent, START - 5), *many])
    second = PassTracker(first.cursor(None))
    second.begin(START + 3600)
    changed = {"id": "cus_x3", "note": "changed"}
    sent = [("cus_1", recent, START - 5), *many[:3], ("cus_x3", changed, START - 10)]
    assert finish(second, sent) == ["cus_x3"]


def test_a_resumed_pass_keeps_its_start_and_lower_bound() -> None:
    first = PassTracker(None)
    first.begin(START)
    finish(first, [("a", {"id": "a"}, START - 100)])
    running = PassTracker(first.cursor(None))
    running.begin(START + 7200)
    running.accept("b", {"id": "b"}, START + 7000)
    mid = running.cursor("offset-2")
    resumed = PassTracker(mid)
    assert resumed.resume == "offset-2"
    assert resumed.start == START + 7200
    resumed.begin(START + 9999)  # a later answer does not move the pass's start
    assert resumed.cursor(None)["watermark"] == (START + 7200 - OVERLAP) // GRAIN * GRAIN


def test_an_old_pass_cursor_without_a_start_ends_the_old_way() -> None:
    legacy = {"watermark": START, "seen": {}, "pass": {"resume": "o", "full": False, "high": None}}
    tracker = PassTracker(legacy)
    tracker.begin(START + 10_000)
    tracker.accept("a", {"id": "a"}, START + 50)
    assert tracker.cursor(None)["watermark"] == START + 50


def test_http_date() -> None:
    assert http_date("Sun, 06 Nov 1994 08:49:37 GMT") == 784111777
    assert http_date("not a date") is None
    assert http_date(None) is None
