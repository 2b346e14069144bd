"""The README's quick start and sync example run as written (on the test server)."""
import re
import subprocess
import sys
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def blocks():
    return re.findall(r"```python\n(.*?)```", README.read_text(), re.S)


def test_quick_start_runs(tmp_path):
    script = tmp_path / "quick_start.py"
    script.write_text(blocks()[0])
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    first, second = done.stdout.splitlines()
    assert first.startswith("pg ") and 0.3 < float(first.split()[1]) <= 1.0
    assert second == "['cats', 'pg']"


def test_sync_example_runs(tmp_path):
    script = tmp_path / "sync_example.py"
    script.write_text(blocks()[1].replace('"articles"', '"articles_sync"') + "\ncollection.archive()\n")
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert re.fullmatch(r"\d+ \{'id': 1, 'text': 'hello'\}\n", done.stdout)
