"""The generic QThread generator worker: ordering, errors, stop/pause, joining."""

from __future__ import annotations

import threading
import time

import pytest

from qt_helpers import deliver_posted_events, watch_parking

from digitpad.app.workers import WorkerHandle, start_worker
from digitpad.core.learning.control import TrainControl


@pytest.fixture
def handles():
    """Every handle a test starts is shut down and joined at teardown."""
    started: list[WorkerHandle] = []
    yield started
    for h in started:
        h.shutdown(1000)
        assert not h.is_running()


def _start(handles, factory, control=None) -> WorkerHandle:
    h = start_worker(factory, control)
    handles.append(h)
    return h


def test_ten_thousand_signals_arrive_in_order(qtbot, handles):
    """10,000 Signal(object) emissions from the worker thread all arrive, in order.

    This guards the PySide6 < 6.12 pin in pyproject.toml: PySide6 6.12.0 on Python 3.11
    crashes the interpreter ("bool_dealloc") after a few hundred Signal.emit calls from a
    worker thread; with a good PySide6 this test simply passes.
    """
    n = 10_000
    got: list[int] = []
    threads: set[int] = set()

    def gen(control):
        threads.add(threading.get_ident())
        for i in range(n):
            yield i

    h = WorkerHandle(gen)
    handles.append(h)
    h.yielded.connect(got.append)
    errors = []
    h.errored.connect(errors.append)
    with qtbot.waitSignal(h.finished, timeout=30_000):
        h.start()
    assert errors == []
    assert got == list(range(n))
    assert threading.get_ident() not in threads  # the generator ran in the worker thread
    assert not h.is_running() and h.done


def test_generator_exception_becomes_errored_signal(qtbot, handles):
    def gen(control):
        yield 1
        yield 2
        raise ValueError("boom in the worker")

    h = WorkerHandle(gen)
    handles.append(h)
    got, errors = [], []
    h.yielded.connect(got.append)
    h.errored.connect(errors.append)
    with qtbot.waitSignal(h.finished, timeout=5000):
        h.start()
    assert got == [1, 2]
    assert len(errors) == 1 and isinstance(errors[0], ValueError)
    assert "boom in the worker" in str(errors[0])
    assert not h.is_running()


def test_factory_exception_becomes_errored_signal(qtbot, handles):
    def factory(control):
        raise OSError("cannot open the data")

    h = WorkerHandle(factory)
    handles.append(h)
    errors = []
    h.errored.connect(errors.append)
    with qtbot.waitSignal(h.finished, timeout=5000):
        h.start()
    assert [type(e) for e in errors] == [OSError]


def test_stop_flag_ends_the_generator_early(qtbot, handles):
    """The generator sees the stop flag, says how it ended, and the thread is joined."""
    release = threading.Event()

    def gen(control):
        for i in range(1_000_000):
            if control.stop_requested:
                yield ("stopped", i)
                return
            if i == 5:  # busy with item 5 until the test has asked it to stop
                assert release.wait(30)
            yield i

    h = _start(handles, gen)
    got = []
    h.yielded.connect(got.append)
    qtbot.waitUntil(lambda: len(got) >= 5, timeout=5000)
    with qtbot.waitSignal(h.finished, timeout=5000):
        h.stop()
        release.set()
    assert got == [0, 1, 2, 3, 4, 5, ("stopped", 6)]
    assert not h.is_running()


def test_pause_holds_and_resume_continues(qtbot, handles):
    """A generator that knows nothing of the flags is paused between items by the worker."""

    def gen(control):
        i = 0
        while True:
            time.sleep(0.002)  # a slow item (work in the worker thread, not a wait)
            yield i
            i += 1

    control = TrainControl()
    parked = watch_parking(control)
    h = _start(handles, gen, control)
    got = []
    h.yielded.connect(got.append)
    qtbot.waitUntil(lambda: len(got) >= 3, timeout=5000)
    h.pause()
    qtbot.waitUntil(parked.is_set, timeout=5000)  # the worker is held between two items
    deliver_posted_events()  # the items it yielded before that
    held = len(got)
    deliver_posted_events()
    assert len(got) == held and got == list(range(held))
    assert h.is_running() and h.paused and parked.is_set()
    h.resume()
    qtbot.waitUntil(lambda: len(got) > held + 3, timeout=5000)
    h.pause()
    assert h.shutdown(1000) is True  # a paused worker wakes to be joined
    assert got == list(range(len(got)))


def test_shutdown_joins_a_busy_worker_within_a_second(qtbot, handles):
    def gen(control):
        while True:
            time.sleep(0.005)  # a busy worker: 5 ms of work per item
            yield 0

    h = _start(handles, gen)
    finished, got = [], []
    h.finished.connect(lambda: finished.append(True))
    h.yielded.connect(got.append)
    qtbot.waitUntil(lambda: len(got) >= 3, timeout=5000)
    h.pause()  # a paused run must wake on shutdown too
    assert h.shutdown(1000) is True  # joined within the second (False: it had to wait longer)
    assert not h.is_running()
    assert h.thread_object() is None
    assert finished == [True]
    # items that were still queued for the handle are dropped, and nothing fails later
    seen = len(got)
    deliver_posted_events()
    assert len(got) == seen


def _stuck_worker(release: threading.Event):
    def work(control):
        yield "started"
        release.wait(10)  # one long step that does not look at the stop flag
        yield "after"
    return start_worker(work)


def test_retire_returns_at_once_and_keeps_the_thread_alive_until_it_ends(qtbot):
    release = threading.Event()
    handle = _stuck_worker(release)
    got = []
    handle.yielded.connect(got.append)
    qtbot.waitUntil(lambda: got == ["started"], timeout=5000)
    t0 = time.perf_counter()
    handle.retire()
    assert time.perf_counter() - t0 < 0.05  # the old shutdown(2000) waited here, then forever
    del handle  # the owner drops it: a QThread destroyed while running would abort the process
    release.set()
    qtbot.wait(300)
    assert got == ["started"]  # nothing reported after it was retired


def test_bounded_joins_leave_a_stuck_thread_instead_of_waiting(qtbot):
    from digitpad.app.workers import bounded_joins

    release = threading.Event()
    handle = _stuck_worker(release)
    qtbot.waitUntil(lambda: handle.is_running(), timeout=5000)
    qtbot.wait(50)
    t0 = time.perf_counter()
    with bounded_joins():
        joined = handle.shutdown(100)
    took = time.perf_counter() - t0
    release.set()
    assert not joined and took < 1.0, took
    with qtbot.waitSignal(handle.finished, timeout=5000):
        pass


# --- Writes: small file writes in order, in a worker ------------------------------------------

def test_writes_run_in_order_off_the_gui_thread_and_report_each(qtbot, tmp_path):
    from digitpad.app.workers import Writes

    writes = Writes()
    log, done, errors, threads = [], [], [], set()

    def write(k):
        def run():
            threads.add(threading.get_ident())
            time.sleep(0.002)
            if k == 3:
                raise OSError(28, "No space left on device")
            log.append(k)
            return k
        return run

    for k in range(8):
        writes.submit(write(k), done.append, errors.append)
    assert writes.pending == 8  # submit returned before any write was done
    qtbot.waitUntil(lambda: writes.pending == 0, timeout=10000)
    assert log == [0, 1, 2, 4, 5, 6, 7]  # in order; one failure stops nothing after it
    assert done == log and [e.errno for e in errors] == [28]
    assert threading.get_ident() not in threads
    qtbot.waitUntil(lambda: writes._handle is None, timeout=5000)  # no idle thread is kept
    writes.submit(write(9), done.append)  # a later burst starts a thread again
    qtbot.waitUntil(lambda: done[-1:] == [9], timeout=5000)
    assert writes.shutdown(1000)


def test_writes_shutdown_finishes_every_write_asked_for(qtbot, tmp_path):
    """Quitting right after a keep: the sample is on disk, never cut off or dropped."""
    from digitpad.app.workers import Writes, bounded_joins

    writes = Writes()
    release = threading.Event()
    paths = [tmp_path / f"{k}.png" for k in range(5)]

    def slow_first():
        release.wait(0.3)
        paths[0].write_bytes(b"0")

    writes.submit(slow_first)
    for p in paths[1:]:
        writes.submit(lambda p=p: p.write_bytes(b"x"))
    told = []
    writes.submit(lambda: None, told.append)
    with bounded_joins():
        assert writes.shutdown(5000)
    assert all(p.exists() for p in paths)
    deliver_posted_events()
    assert told == []  # nothing reported to an owner that is closing
    writes.submit(lambda: (tmp_path / "late").write_bytes(b"1"))  # after: written at once
    assert (tmp_path / "late").exists()
