"""PostgreSQL's signal handlers, kept through library code that replaces them.

A backend's SIGALRM handler runs statement_timeout, lock_timeout and the idle timeouts on one
interval timer; SIGINT is pg_cancel_backend, SIGTERM pg_terminate_backend, SIGUSR1 the server's
own messages (e.g. recovery conflicts, barriers). A library that installs a handler of its own
breaks them for the rest of the connection: transformers' resolve_trust_remote_code sets SIGALRM
and alarm(15) around a prompt and, as Python does not see PostgreSQL's C handler, never puts it
back. preserved() reads the C-level handlers with sigaction(2) before library code runs and, after
it, restores any that changed, and the timer too when it was changed.
"""
import contextlib
import signal
import time

import pgml_native  # sigaction(2) through ctypes, with the server's other bindings

GUARDED = (signal.SIGHUP, signal.SIGINT, signal.SIGTERM, signal.SIGQUIT, signal.SIGALRM,
           signal.SIGUSR1, signal.SIGUSR2, signal.SIGPIPE, signal.SIGCHLD, signal.SIGFPE)
TIMER_SLACK = 0.05  # seconds: a timer this close to its expected value was left alone
MIN_DELAY = 0.001  # seconds: "at once" for setitimer (0 would switch it off)


def handlers():
    """{signal: SigAction} as the kernel has them now, for every guarded signal."""
    actions = {}
    for signum in GUARDED:
        action = pgml_native.sigaction_get(signum)
        if action is not None:
            actions[signum] = action
    return actions


def restore(saved):
    """Puts back every handler in `saved` that differs now; returns the signals it restored."""
    changed = []
    for signum, action in handlers().items():
        before = saved.get(signum)
        if before is not None and (action.handler, action.flags) != (before.handler, before.flags):
            pgml_native.sigaction_set(signum, before)
            changed.append(signum)
    return changed


def restore_timer(remaining, elapsed, lost_alarm):
    """Makes sure PostgreSQL's SIGALRM comes no later than it set it to: `remaining` seconds when
    the library code began, `elapsed` seconds ago. After another SIGALRM handler was in place, an
    alarm may have been lost, so it comes at once. Early alarms are harmless (PostgreSQL checks
    which timeouts are due and sets the timer again); the timer is never switched off."""
    now = signal.getitimer(signal.ITIMER_REAL)[0]
    if lost_alarm:
        due = MIN_DELAY
    elif remaining > 0 and (now == 0 or now > remaining - elapsed + TIMER_SLACK):
        due = max(remaining - elapsed, MIN_DELAY)  # the library switched it off or postponed it
    else:
        return
    if now == 0 or now > due:
        signal.setitimer(signal.ITIMER_REAL, due)


@contextlib.contextmanager
def preserved():
    """Runs the body (a model load) and undoes any change it made to the guarded handlers."""
    saved = handlers()
    remaining, started = signal.getitimer(signal.ITIMER_REAL)[0], time.monotonic()
    try:
        yield
    finally:
        changed = restore(saved)
        alarm = saved.get(signal.SIGALRM)
        # An alarm is re-sent only to a handler (PostgreSQL's): SIG_DFL would end the process.
        lost_alarm = signal.SIGALRM in changed and alarm.handler not in (None, 1)  # SIG_DFL, SIG_IGN
        restore_timer(remaining, time.monotonic() - started, lost_alarm)
