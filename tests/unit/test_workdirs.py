"""workdirs: a dead backend's directory is removed by the next one; a live one's is kept."""
import os
import subprocess

from pgml_py import workdirs


def test_directories_of_gone_processes_are_removed_and_live_ones_kept(tmp_path):
    gone = subprocess.Popen(["true"])
    gone.wait()
    live = subprocess.Popen(["sleep", "30"])
    try:
        dead_dir = tmp_path / ("pgml-tune-%d-%s-abc" % (gone.pid, "12345"))
        live_dir = tmp_path / ("pgml-tune-%d-%s-def" % (live.pid, workdirs._started(live.pid)))
        reused_pid = tmp_path / ("pgml-tune-%d-%s-ghi" % (live.pid, "1"))  # same pid, other process
        other = tmp_path / "pgml-tune-notours"
        for d in (dead_dir, live_dir, reused_pid, other):
            d.mkdir()
            (d / "checkpoint").write_text("x")
        removed = workdirs.remove_stale("pgml-tune-", str(tmp_path))
        assert sorted(removed) == sorted([str(dead_dir), str(reused_pid)])
        assert live_dir.exists() and other.exists() and not dead_dir.exists()
    finally:
        live.kill()


def test_backend_directory_is_named_after_this_process_and_removed_on_exit(tmp_path):
    with workdirs.backend_directory("pgml-tune-", str(tmp_path)) as path:
        name = os.path.basename(path)
        assert name.startswith("pgml-tune-%d-%s-" % (os.getpid(), workdirs._started(os.getpid())))
        assert workdirs.remove_stale("pgml-tune-", str(tmp_path)) == []
    assert not os.path.exists(path)
