"""The committed install/upgrade scripts are what scripts/build-sql.py builds from sql/, and
released scripts are untouched (sql/released.sha256)."""
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_committed_scripts_are_current_and_released_ones_unchanged():
    check = subprocess.run([sys.executable, str(ROOT / "scripts" / "build-sql.py"), "--check"],
                           capture_output=True, text=True)
    assert check.returncode == 0, check.stderr


def test_every_shim_boots_with_the_one_line():
    sys.path.insert(0, str(ROOT / "scripts"))
    import importlib
    build = importlib.import_module("build-sql")
    _, scripts = build.scripts()
    for name, text in scripts.items():
        assert build.MARKER not in text and "sys.path.append" not in text, name
        # every PL/Python function but activate_venv boots with the one line
        assert text.count(build.BOOT) == text.count("LANGUAGE plpython3u") - 1, name


def test_released_script_is_pinned():
    pinned = (ROOT / "sql" / "released.sha256").read_text()
    assert "pgml--1.0.sql" in pinned
