"""pgml_native: the per-major checks that keep pgml from reading server memory by a layout it was
not checked against. The server side (a backend's bindings) is in tests/integration/test_majors.py."""
import shutil
import signal
import subprocess
from pathlib import Path

import pytest

import pgml_native


def include_dir():
    pg_config = shutil.which("pg_config")
    if pg_config is None:
        pytest.skip("no pg_config on PATH")
    path = Path(subprocess.run([pg_config, "--includedir-server"], capture_output=True, text=True).stdout.strip())
    if not (path / "utils" / "snapshot.h").is_file():
        pytest.skip("server headers are not installed")
    return path


def test_the_installed_server_headers_match_every_binding():
    assert pgml_native.check_headers(str(include_dir())) == []


def test_a_changed_snapshot_layout_is_reported(tmp_path):
    copy = tmp_path / "include"
    shutil.copytree(include_dir(), copy)
    header = copy / "utils" / "snapshot.h"
    text = header.read_text()
    # a field inserted before xmin, as a future major might: every later offset moves
    header.write_text(text.replace("TransactionId xmin;", "uint64 newfield;\n\tTransactionId xmin;", 1))
    missing = pgml_native.check_headers(str(copy))
    assert len(missing) == 1 and missing[0].startswith("utils/snapshot.h: typedef struct SnapshotData")


def test_a_missing_header_is_reported(tmp_path):
    missing = pgml_native.check_headers(str(tmp_path))
    assert any(m.endswith("miscadmin.h: No such file or directory") for m in missing)


def test_the_command_fails_on_a_known_major_only(tmp_path):
    script = Path(pgml_native.__file__)
    known = subprocess.run(["python3", str(script), str(tmp_path), "17"], capture_output=True, text=True)
    unknown = subprocess.run(["python3", str(script), str(tmp_path), "19"], capture_output=True, text=True)
    assert known.returncode == 1 and "differ" in known.stderr
    assert unknown.returncode == 0 and "layout reads stay off" in unknown.stderr


@pytest.mark.parametrize("major,trusted", [(14, False), (15, True), (16, True), (17, True), (18, True), (19, False)])
def test_layouts_are_trusted_on_checked_majors_only(major, trusted):
    assert pgml_native.layouts_trusted(major) is trusted


def snapshot(**fields):
    snap = pgml_native.Snapshot(snapshot_type=0, xmin=100, xmax=105, xcnt=2, subxcnt=0, curcid=3)
    for name, value in fields.items():
        setattr(snap, name, value)
    return snap


def test_plausible_snapshots():
    assert pgml_native.plausible(snapshot())
    assert pgml_native.plausible(snapshot(xmin=2 ** 32 - 2, xmax=3, xcnt=4))  # across wraparound
    assert not pgml_native.plausible(snapshot(snapshot_type=6))   # not an MVCC snapshot
    assert not pgml_native.plausible(snapshot(xmin=105, xmax=100))
    assert not pgml_native.plausible(snapshot(xcnt=50))             # more in progress than xmax - xmin
    raw = snapshot()
    pgml_native.ctypes.c_uint8.from_address(
        pgml_native.ctypes.addressof(raw) + pgml_native.Snapshot.copied.offset).value = 7
    assert not pgml_native.plausible(raw)


def test_a_plain_process_has_no_server_bindings():
    with pytest.raises(RuntimeError, match="not a PostgreSQL backend.*GetConfigOption"):
        pgml_native.Server()


def test_sigaction_reads_the_c_handler():
    before = signal.signal(signal.SIGUSR2, signal.SIG_IGN)
    try:
        assert pgml_native.sigaction_get(signal.SIGUSR2).handler == 1  # SIG_IGN
    finally:
        signal.signal(signal.SIGUSR2, before)
