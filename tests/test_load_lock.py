"""The suite's load lock (testing/load_lock.py): a timing test waiting for it is not
starved by shared holders that keep overlapping."""

from __future__ import annotations

import threading
import time
import uuid

import pytest

from testing.load_lock import load_lock


def test_an_exclusive_waiter_goes_before_later_shared_ones(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PYTEST_XDIST_TESTRUNUID", f"lock-test-{uuid.uuid4().hex}")
    order: list[str] = []
    first_in = threading.Event()
    release_first = threading.Event()

    def holder(name: str, exclusive: bool, hold: threading.Event | None = None) -> None:
        with load_lock(exclusive):
            order.append(f"{name} in")
            if hold is not None:
                first_in.set()
                hold.wait(10)
            order.append(f"{name} out")

    first = threading.Thread(target=holder, args=("shared-1", False, release_first))
    first.start()
    assert first_in.wait(10)
    timing = threading.Thread(target=holder, args=("timing", True))
    timing.start()
    time.sleep(0.3)  # the timing test now waits at the lock, holding the turnstile
    late = threading.Thread(target=holder, args=("shared-2", False))
    late.start()
    time.sleep(0.3)
    assert order == ["shared-1 in"]  # shared-2 did not slip in beside shared-1
    release_first.set()
    for thread in (first, timing, late):
        thread.join(10)
    assert order == ["shared-1 in", "shared-1 out", "timing in", "timing out", "shared-2 in",
                     "shared-2 out"]  # fmt: skip


def test_without_xdist_no_lock_is_taken(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PYTEST_XDIST_TESTRUNUID", raising=False)
    with load_lock(True), load_lock(True):  # would deadlock if it locked
        pass
