"""How many CPU threads a pgml call uses (README "Threads").

pgml.omp_num_threads set to N >= 1 means N, always. At its default (0, automatic) a call takes the
cores that no other pgml call on this machine is using right now: one connection embedding or
training alone gets every core (as a plain sentence-transformers or XGBoost process does), and
two or more share them out instead of oversubscribing (two torch processes with 2 threads each on
2 cores run 2.5x slower than with 1 each).

The cross-backend signal is a lock file per busy backend in a directory of the server's OS user:
a backend holds an exclusive flock on <dir>/<pid> while a call computes; others count the files
they cannot lock. The kernel drops the lock when a backend exits, so a crash leaves nothing busy.
"""
import contextlib
import fcntl
import os
import sys
import tempfile

from . import workdirs


def decide(setting, cores, busy_others):
    """Threads for one call: the explicit setting, else the cores not busy with other pgml
    calls (at least 1). Pure, for the unit tests."""
    if setting and setting > 0:
        return int(setting)
    return max(1, int(cores) - int(busy_others))


def cores():
    """CPUs this process may run on (cgroup/affinity aware where the OS says)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def busy_dir():
    """One directory per OS user, shared by every cluster of that user on this machine (the
    cores are the machine's)."""
    return os.path.join(tempfile.gettempdir(), "pgml-busy-%d" % os.getuid())


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True
    return True


class Busy:
    """This backend's lock file. `hold()` marks a call busy; `others()` counts busy backends."""

    def __init__(self, directory=None):
        self.directory = directory or busy_dir()
        self.fd = None
        self.depth = 0
        self.private = False

    def _private_directory(self):
        """The directory, once checked to be this user's alone (someone else's could skew the
        counts); raises OSError until it is. Checked once: then only this user can change it."""
        if not self.private:
            workdirs.private_dir(self.directory)
            self.private = True
        return self.directory

    def _own(self):
        if self.fd is None:
            self.fd = os.open(os.path.join(self._private_directory(), str(os.getpid())), os.O_RDWR | os.O_CREAT, 0o600)
        return self.fd

    @contextlib.contextmanager
    def hold(self):
        """Busy for the duration (re-entrant: a call inside a call keeps one mark)."""
        try:
            fd = self._own()
            if self.depth == 0:
                fcntl.flock(fd, fcntl.LOCK_EX)
        except OSError:
            fd = None  # no signal this time: the call still runs
        self.depth += 1
        try:
            yield
        finally:
            self.depth -= 1
            if fd is not None and self.depth == 0:
                fcntl.flock(fd, fcntl.LOCK_UN)

    def others(self):
        """Backends other than this one holding their mark now; stale files of dead pids go."""
        try:
            names = os.listdir(self._private_directory())
        except OSError:  # missing, or not private: files in it say nothing about pgml's calls
            return 0
        me, count = str(os.getpid()), 0
        for name in names:
            if name == me or not name.isdigit():
                continue
            path = os.path.join(self.directory, name)
            try:
                fd = os.open(path, os.O_RDONLY)
            except OSError:
                continue
            try:
                fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
                fcntl.flock(fd, fcntl.LOCK_UN)
                if not _alive(int(name)):
                    with contextlib.suppress(OSError):
                        os.unlink(path)
            except OSError:
                count += 1
            finally:
                os.close(fd)
        return count


_busy = None


def busy():
    global _busy
    if _busy is None:
        _busy = Busy()
    return _busy


def for_call(setting):
    """Threads for a call (or one batch of it) starting now."""
    if setting and setting > 0:
        return int(setting)  # no need to look at the others
    return decide(setting, cores(), busy().others())


_torch_initial = None  # torch's own count (its default, or OMP_NUM_THREADS), before pgml changed it


def set_torch_threads(n):
    """torch's intra-op pool size, when torch is already imported (never imports it)."""
    global _torch_initial
    torch = sys.modules.get("torch")
    if torch is not None:
        current = torch.get_num_threads()
        if _torch_initial is None:
            _torch_initial = current
        if current != n:
            torch.set_num_threads(n)


@contextlib.contextmanager
def torch_call(setting):
    """One transform, rank or generate call (or rank's measurement) on a loaded torch model:
    busy for its duration, torch's pool at the call's count (for_call: the setting read now,
    yielded), and torch's count put back afterwards. Without it a call ran with whatever the
    previous call left: a feature extraction on OpenVINO leaves torch at 1 thread (its pooling),
    and a text generation after it in the same backend ran at 0.8x."""
    with busy().hold(), torch_threads_kept():
        n = for_call(setting)
        set_torch_threads(n)
        yield n


@contextlib.contextmanager
def torch_threads_kept():
    """Puts torch's thread count back after a call that sets it (embed per batch, a tune), so
    transform and rank in the same backend keep theirs; when torch was imported during the
    call, back to torch's own count."""
    torch = sys.modules.get("torch")
    before = torch.get_num_threads() if torch is not None else None
    try:
        yield
    finally:
        restore = before if before is not None else _torch_initial
        if restore is not None:
            set_torch_threads(restore)
