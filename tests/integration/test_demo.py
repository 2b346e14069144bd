"""`make demo`'s SQL file runs on the test server and finds the right document."""
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_demo_sql(server):
    bindir = subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True).stdout.strip()
    out = subprocess.run([bindir + "/psql", "-X", server.url, "-f", str(ROOT / "demo" / "demo.sql")],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    first_hit = lines[lines.index(next(l for l in lines if l.startswith("----"))) + 1]
    assert "Machine learning models can run inside the database" in first_hit
    assert " 1 | pgml brings machine learning to PostgreSQL." in out.stdout
    assert "ERROR" not in out.stderr
