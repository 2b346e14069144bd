"""The thread policy (pgml_py/threads.py): explicit setting wins, else the cores not busy."""
import fcntl
import os
import subprocess
import sys

import pytest

from pgml_py import errors, settings, threads, workdirs


@pytest.mark.parametrize("setting,cores,busy,expected", [
    (0, 2, 0, 2), (0, 2, 1, 1), (0, 2, 5, 1), (0, 16, 3, 13), (3, 2, 0, 3), (1, 16, 0, 1), (None, 4, 1, 3)])
def test_decide(setting, cores, busy, expected):
    assert threads.decide(setting, cores, busy) == expected


def test_zero_is_automatic_and_negative_refused():
    assert settings.from_raw({"pgml.omp_num_threads": "0"}).omp_num_threads == 0
    assert settings.from_raw({"pgml.omp_num_threads": "4"}).omp_num_threads == 4
    with pytest.raises(errors.InvalidParameter):
        settings.from_raw({"pgml.omp_num_threads": "-1"})
    with pytest.raises(errors.InvalidParameter):  # the others still start at 1
        settings.from_raw({"pgml.cache_max_models": "0"})


def test_busy_counts_other_processes_holding_their_mark(tmp_path):
    mine = threads.Busy(str(tmp_path))
    assert mine.others() == 0
    holder = subprocess.Popen([sys.executable, "-c", """
import fcntl, os, sys, time
fd = os.open(os.path.join(sys.argv[1], str(os.getpid())), os.O_RDWR | os.O_CREAT)
fcntl.flock(fd, fcntl.LOCK_EX)
print("held", flush=True)
sys.stdin.readline()
""", str(tmp_path)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with mine.hold():  # our own mark is not counted
            assert mine.others() == 1
        assert threads.decide(0, 2, mine.others()) == 1
    finally:
        holder.stdin.close()
        holder.wait()
    assert mine.others() == 0  # the lock went with the process; its stale file is removed
    assert sorted(os.listdir(tmp_path)) == [str(os.getpid())]


def test_hold_is_reentrant_and_released(tmp_path):
    mine = threads.Busy(str(tmp_path))
    with mine.hold():
        with mine.hold():
            pass
        fd = os.open(os.path.join(str(tmp_path), str(os.getpid())), os.O_RDONLY)
        # still held by the outer mark: another open file description cannot lock it
        with pytest.raises(OSError):
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        os.close(fd)
    fd = os.open(os.path.join(str(tmp_path), str(os.getpid())), os.O_RDONLY)
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    os.close(fd)


def test_backend_choice_and_bad_values():
    from pgml_py.hf import backends
    assert backends.choose("torch", "auto") == "torch"
    assert backends.choose(None, "onnx") == "onnx"
    assert backends.choose(None, "auto") in backends.BACKENDS + ("auto",)  # auto: measured per model
    assert backends.choose(None, "auto", "int8") in ("onnx", "openvino")
    for bad in ("tensorrt", 1, ["onnx"]):
        with pytest.raises(errors.InvalidParameter) as info:
            backends.choose(bad, "auto")
        assert info.value.sqlstate == "22023" and info.value.hint
    with pytest.raises(errors.InvalidParameter):
        backends.choose("onnx", "auto", "int4")
    with pytest.raises(errors.InvalidParameter):
        backends.choose("torch", "auto", "int8")
    assert backends.setting_hint("OpenVINO") is None and backends.setting_hint("gpu")


def test_a_busy_directory_others_can_write_gives_no_signal(tmp_path):
    """Another local user who made /tmp/pgml-busy-<uid> first (or made it writable) could plant
    lock files that shrink every call's threads: pgml then marks nothing and counts nothing."""
    shared = tmp_path / "busy"
    shared.mkdir(mode=0o777)
    shared.chmod(0o777)
    planted = os.open(str(shared / "1"), os.O_RDWR | os.O_CREAT)  # pid 1 is alive: not stale
    fcntl.flock(planted, fcntl.LOCK_EX)
    mine = threads.Busy(str(shared))
    try:
        assert mine.others() == 0
        with mine.hold():  # the call still runs
            pass
    finally:
        os.close(planted)
    assert mine.fd is None and os.listdir(shared) == ["1"]
    with pytest.raises(PermissionError):
        workdirs.private_dir(str(shared))
    shared.chmod(0o700)  # once private, a held file counts
    holder = os.open(str(shared / "1"), os.O_RDWR)
    fcntl.flock(holder, fcntl.LOCK_EX)
    try:
        assert mine.others() == 1
    finally:
        os.close(holder)
