"""The notify agent's lanes and progress (agents/delivery_lanes.py): a destination that hangs
holds only its own lane, and the group's position never passes an undelivered notification."""

from __future__ import annotations

import threading
from collections.abc import Callable

from agents.delivery_lanes import Lanes, Progress


def test_the_position_stops_at_the_oldest_offset_not_delivered() -> None:
    progress = Progress()
    assert progress.add(0, 10, 0) == 11  # nothing to deliver, nothing open: past it at once
    assert progress.add(0, 11, 2) is None
    assert progress.add(0, 12, 1) is None
    assert progress.add(0, 13, 0) is None  # 11 and 12 still open
    assert progress.add(1, 5, 1) is None
    assert progress.done(0, 12) is None  # 11 still open
    assert progress.done(0, 11) is None  # one of its two deliveries left
    assert progress.done(0, 11) == 14  # everything added on partition 0 is delivered
    assert progress.done(1, 5) == 6


def test_a_hanging_destination_holds_only_its_own_lane_and_each_keeps_its_order() -> None:
    lanes, released, done, finished = (
        Lanes(4),
        threading.Event(),
        threading.Event(),
        threading.Event(),
    )
    order: list[str] = []

    def noted(what: str) -> Callable[[], None]:
        return lambda: order.append(what)

    lanes.put("hangs", released.wait)
    lanes.put("hangs", noted("hangs"))
    for n in range(5):
        lanes.put("prompt", noted(f"prompt {n}"))
    lanes.put("prompt", done.set)
    try:
        assert done.wait(5)
        assert order == [f"prompt {n}" for n in range(5)]
    finally:
        released.set()
    lanes.put("hangs", finished.set)
    assert finished.wait(5)
    assert order[-1] == "hangs"
    lanes.stop()


def test_a_delivery_that_raises_does_not_stop_its_lane() -> None:
    lanes, done = Lanes(1), threading.Event()

    def fails() -> None:
        raise RuntimeError("a bug in one delivery")

    lanes.put("one", fails)
    lanes.put("one", done.set)
    assert done.wait(5)
    lanes.stop()


def test_the_position_waits_for_a_hanging_destination_while_later_notifications_go_out() -> None:
    lanes, progress, released = Lanes(4), Progress(), threading.Event()
    commits: list[int] = []
    lock = threading.Lock()
    delivered = threading.Semaphore(0)

    def delivery(offset: int, hangs: bool) -> Callable[[], None]:
        def deliver() -> None:
            if hangs:
                released.wait(5)
            with lock:
                if (moved := progress.done(0, offset)) is not None:
                    commits.append(moved)
            delivered.release()

        return deliver

    for offset in range(6):
        hangs = offset == 1
        progress.add(0, offset, 1)
        lanes.put("hangs" if hangs else f"prompt-{offset % 2}", delivery(offset, hangs))
    try:
        for _ in range(5):  # every other destination got its notifications
            assert delivered.acquire(timeout=5)
        assert commits == [1]  # offset 0 is delivered; 1 is not, so nothing past it
    finally:
        released.set()
    assert delivered.acquire(timeout=5)
    assert commits == [1, 6]
    lanes.stop()


def test_more_hanging_destinations_than_lanes_delay_the_others_only_until_one_frees() -> None:
    lanes, released, done = Lanes(2), threading.Event(), threading.Event()
    for n in range(3):
        lanes.put(f"hangs-{n}", released.wait)
    lanes.put("prompt", done.set)
    assert not done.wait(0.5)  # both threads are held
    released.set()
    assert done.wait(5)
    lanes.stop()
