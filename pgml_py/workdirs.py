"""Temporary directories that outlive no backend for long.

A backend ended by pg_terminate_backend, kill -9 or a crash never runs Python's cleanup, so a
`with TemporaryDirectory()` of pgml.tune stays behind (a model's checkpoints: megabytes to
gigabytes). Each directory is named after its backend (pid and the process's start time); making
one first removes those of backends that are gone."""
import os
import re
import shutil
import stat
import tempfile


def private_dir(path):
    """`path`, made if missing, after checking that it is this OS user's own real directory and
    that no one else can write in it (another local user could have made it first, in /tmp).
    Raises PermissionError otherwise."""
    os.makedirs(path, mode=0o700, exist_ok=True)
    st = os.lstat(path)
    if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.getuid() or st.st_mode & 0o022:
        raise PermissionError("%s is not a directory private to this user" % path)
    return path


def _started(pid):
    """The process's start time (clock ticks since boot) from /proc, or None when it is gone."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rpartition(")")[2].split()[19]
    except (OSError, IndexError):
        return None


def remove_stale(prefix, parent=None):
    """Removes parent's `<prefix><pid>-<start>-*` directories (this OS user's) whose backend is
    gone; returns their paths."""
    if _started(os.getpid()) is None:  # no /proc: nothing can be told apart
        return []
    parent = parent or tempfile.gettempdir()
    pattern = re.compile(re.escape(prefix) + r"(\d+)-(\d+)-")
    removed = []
    for name in os.listdir(parent):
        match = pattern.match(name)
        path = os.path.join(parent, name)
        if match is None or _started(int(match.group(1))) == match.group(2):
            continue
        try:
            if os.lstat(path).st_uid != os.getuid():
                continue
        except OSError:
            continue
        shutil.rmtree(path, ignore_errors=True)
        removed.append(path)
    return removed


def backend_directory(prefix, parent=None):
    """A TemporaryDirectory named after this backend, after removing those of dead backends."""
    remove_stale(prefix, parent)
    return tempfile.TemporaryDirectory(prefix="%s%d-%s-" % (prefix, os.getpid(), _started(os.getpid())),
                                       dir=parent)
