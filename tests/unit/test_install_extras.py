"""make install PGML_EXTRAS=<name>: each extra is a pinned requirements-extra-<name>.txt, and an
unknown name stops the install with the names it takes."""
import os
import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_every_extra_is_pinned():
    extras = sorted(ROOT.glob("requirements-extra-*.txt"))
    assert [p.name for p in extras] == ["requirements-extra-bitsandbytes.txt"]
    for path in extras:
        lines = [l.strip() for l in path.read_text().splitlines() if l.strip() and not l.startswith("#")]
        assert lines and all(re.fullmatch(r"[A-Za-z0-9_.-]+==[0-9][\w.]*", l) for l in lines), lines
        assert not any(l.lower().startswith(("torch==", "transformers==")) for l in lines)


def test_an_unknown_extra_stops_the_install():
    done = subprocess.run(["bash", "scripts/install-venv.sh"], cwd=ROOT, capture_output=True, text=True,
                          env=dict(os.environ, PGML_EXTRAS="no-such-extra"), timeout=600)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "unknown extra 'no-such-extra'" in done.stderr and "bitsandbytes" in done.stderr
