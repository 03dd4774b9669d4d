"""The probe schedule within the overhead budget."""

from __future__ import annotations

from sentinel.fleet.agent import OverheadBudget, ScheduleEntry, Scheduler
from sentinel.fleet.agent.scheduler import WATCH_AFTER_FAILURE_S

FMA = ScheduleEntry(1, period_s=10, sm_coverage=1.0, priority=1, timeout_ms=1000)
MEMORY = ScheduleEntry(5, period_s=10, sm_coverage=0.1, priority=4, timeout_ms=1000)
WATCHED_FMA = ScheduleEntry(1, period_s=2.5, sm_coverage=1.0, priority=1, timeout_ms=1000)


def test_due_probes_run_in_priority_order_and_wait_for_their_period() -> None:
    s = Scheduler([0], [MEMORY, FMA], OverheadBudget(100, 50))
    assert s.next_probe(0.0) == (0, FMA)
    s.finished(0, 1, 0.1, 0.0)
    assert s.next_probe(0.0) == (0, MEMORY)
    s.finished(0, 5, 0.1, 0.0)
    assert s.next_probe(1.0) == 10.0, "nothing is due before the first period ends"


def test_over_budget_defers_lower_priorities_until_usage_leaves_the_window() -> None:
    budget = OverheadBudget(window_s=100, budget_pct=2)  # 2 device-seconds per 100 s
    s = Scheduler([0, 1], [FMA, MEMORY], budget)
    s.finished(0, 1, 1.5, 0.0)  # FMA costs 1.5 s on device 0
    s.finished(0, 5, 0.1, 0.0)  # MEMORY 0.1 s: 0.4 s of budget left
    s.finished(1, 1, 0.1, 0.0)
    assert s.next_probe(0.0) == (1, MEMORY), "device 1 has budget left"
    s.finished(1, 5, 0.1, 0.0)
    s.set_active(1, False)
    # Both of device 0's probes are due; FMA does not fit, and MEMORY, which would, waits
    # behind it rather than take the budget FMA needs.
    assert s.next_probe(15.0) == 100.0, "until the first runs leave the window"
    assert s.deferred == 1
    assert s.next_probe(100.0) == (0, FMA)


def test_a_quarantined_device_is_not_scheduled_and_config_changes_keep_history() -> None:
    s = Scheduler([0], [FMA], OverheadBudget(100, 50))
    s.finished(0, 1, 0.1, 0.0)
    s.configure([FMA.__class__(1, 2, 1.0, 1, 1000)], 50)
    assert s.next_probe(1.0) == 2.0, "the shorter period counts from the last run"
    s.set_active(0, False)
    assert s.next_probe(5.0) == float("inf")


def test_a_failed_probe_is_rerun_at_once_to_confirm_then_waits() -> None:
    s = Scheduler([0, 1], [FMA], OverheadBudget(100, 50))
    s.finished(1, 1, 0.1, 0.0)
    s.finished(0, 1, 0.1, 0.0, failed=True)
    assert s.next_probe(0.5) == (0, WATCHED_FMA), "first confirmation"
    s.finished(0, 1, 0.1, 0.5, failed=True)
    assert s.next_probe(0.6) == (0, WATCHED_FMA), "second confirmation"
    s.finished(0, 1, 0.1, 0.6, failed=True)
    assert s.next_probe(0.7) == 3.1, "confirmed: back to the period, a watched device's quarter"
    s.finished(0, 1, 0.1, 10.6, failed=True)
    s.finished(1, 1, 0.1, 10.6)
    assert s.next_probe(11.0) == 13.1, "a fault already confirmed is not re-run again"


def test_a_passing_rerun_ends_the_confirmation() -> None:
    s = Scheduler([0], [FMA], OverheadBudget(100, 50))
    s.finished(0, 1, 0.1, 0.0, failed=True)
    assert s.next_probe(0.1) == (0, WATCHED_FMA)
    s.finished(0, 1, 0.1, 0.1)  # a one-off upset, or a rare fault: the re-run passes
    assert s.next_probe(0.2) == 2.6, "watched after the failure: a quarter of the period"
    s.finished(0, 1, 0.1, 2.6, failed=True)
    assert s.next_probe(2.7) == (0, WATCHED_FMA), "a new failure is confirmed afresh"


def test_a_failure_watches_the_device_for_an_hour_and_passes_do_not() -> None:
    partial = ScheduleEntry(1, period_s=100, sm_coverage=0.25, priority=1, timeout_ms=1000)
    watched = ScheduleEntry(1, period_s=25, sm_coverage=1.0, priority=1, timeout_ms=4000)
    s = Scheduler([0, 1], [partial], OverheadBudget(window_s=1000, budget_pct=50))
    s.finished(1, 1, 0.1, 0.0)
    s.finished(0, 1, 0.1, 0.0, failed=True)
    s.finished(0, 1, 0.1, 0.0)  # the confirmation passed
    assert s.next_probe(25.0) == (0, watched), "fully, four times as often"
    s.finished(0, 1, 0.1, 25.0)
    assert s.next_probe(30.0) == 50.0, "the device that never failed keeps its period of 100"
    s.set_active(1, False)
    s.finished(0, 1, 0.1, WATCH_AFTER_FAILURE_S - 10)
    assert s.next_probe(WATCH_AFTER_FAILURE_S) == WATCH_AFTER_FAILURE_S + 90, "watch over"
    assert s.next_probe(WATCH_AFTER_FAILURE_S + 90) == (0, partial)


def test_confirmations_stay_within_the_budget() -> None:
    s = Scheduler([0], [FMA], OverheadBudget(window_s=100, budget_pct=1))  # 1 s per 100 s
    s.finished(0, 1, 0.9, 0.0, failed=True)
    assert s.next_probe(0.1) == 100.0, "the re-run waits until it fits"


def test_a_watched_device_is_probed_more_often_and_fully_within_the_budget() -> None:
    partial = ScheduleEntry(1, period_s=100, sm_coverage=0.25, priority=1, timeout_ms=1000)
    s = Scheduler([0, 1], [partial], OverheadBudget(window_s=1000, budget_pct=1))  # 10 s
    for device in (0, 1):
        s.finished(device, 1, 0.1, 0.0)
    assert s.set_watched(0, True)
    assert not s.set_watched(0, True), "told twice, changed once"

    watched = ScheduleEntry(1, period_s=25, sm_coverage=1.0, priority=1, timeout_ms=4000)
    assert s.next_probe(10.0) == 25.0, "due after a quarter of the period"
    assert s.next_probe(25.0) == (0, watched)
    s.finished(0, 1, 9.0, 25.0)  # a full run costs more: 9.1 of the 10 s are spent
    assert s.next_probe(50.0) == 100.0, "the next full run waits for budget; device 1 is next"
    assert s.deferred == 1
    assert s.next_probe(100.0) == (1, partial), "device 1 keeps its schedule"
    s.finished(1, 1, 0.1, 100.0)
    assert s.set_watched(0, False)
    assert s.next_probe(1100.0) == (0, partial), "cleared: back to the schedule"
