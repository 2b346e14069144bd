"""signals.preserved(): C-level handlers and the interval timer as they were before library code.
In a backend the handlers are PostgreSQL's; here SIG_IGN stands in for them (a Python handler
would not do: every Python handler is the same C function)."""
import os
import signal

import pytest

from pgml_py import signals


@pytest.fixture
def ignored():
    """SIGUSR1 and SIGALRM ignored at C level (so a stray alarm is harmless), no timer armed."""
    before = {s: signal.signal(s, signal.SIG_IGN) for s in (signal.SIGUSR1, signal.SIGALRM)}
    yield
    signal.setitimer(signal.ITIMER_REAL, 0)
    for s, handler in before.items():
        signal.signal(s, handler)


def test_a_replaced_handler_is_put_back(ignored):
    calls = []
    with signals.preserved():
        signal.signal(signal.SIGUSR1, lambda *args: calls.append(args))
        assert signals.handlers()[signal.SIGUSR1].handler not in (None, 1)
    assert signals.handlers()[signal.SIGUSR1].handler == 1  # SIG_IGN again
    os.kill(os.getpid(), signal.SIGUSR1)
    assert calls == []


def test_a_switched_off_or_postponed_timer_is_set_back(ignored):
    signal.setitimer(signal.ITIMER_REAL, 10)
    with signals.preserved():
        signal.alarm(0)  # a library cancels the server's pending timeout
    assert 9 < signal.getitimer(signal.ITIMER_REAL)[0] <= 10
    with signals.preserved():
        signal.signal(signal.SIGALRM, lambda *args: None)
        signal.alarm(100)  # its own alarm, later than the server's
    assert 9 < signal.getitimer(signal.ITIMER_REAL)[0] <= 10
    assert signals.handlers()[signal.SIGALRM].handler == 1


def test_an_earlier_timer_and_untouched_handlers_are_left_alone(ignored):
    signal.setitimer(signal.ITIMER_REAL, 10)
    with signals.preserved():
        signal.setitimer(signal.ITIMER_REAL, 5)  # as the server does when a nearer timeout starts
    assert 4 < signal.getitimer(signal.ITIMER_REAL)[0] <= 5
    signal.setitimer(signal.ITIMER_REAL, 0)
    with signals.preserved():
        pass
    assert signal.getitimer(signal.ITIMER_REAL)[0] == 0  # never armed by the guard itself


def test_a_lost_alarm_comes_at_once(ignored):
    signal.setitimer(signal.ITIMER_REAL, 10)
    signals.restore_timer(10, 0.5, lost_alarm=True)
    assert signal.getitimer(signal.ITIMER_REAL)[0] <= signals.MIN_DELAY
