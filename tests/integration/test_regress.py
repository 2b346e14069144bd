"""The pg_regress layer (tests/sql, tests/expected) as part of the suite: `make installcheck`
against this session's server, so `make test` covers it. On failure the assertion message holds
regression.diffs."""
import os
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
OUTPUT = ROOT / "build" / "regress"


def test_installcheck(server):
    # Not an outer make's job server or command-line variables: only the port this test chooses.
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL")}
    result = subprocess.run(
        ["make", "--no-print-directory", "installcheck", "PGML_PORT=%s" % server.env["PGML_PORT"]],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    if result.returncode != 0:
        diffs = OUTPUT / "regression.diffs"
        shown = diffs.read_text(errors="replace") if diffs.exists() else "(no %s)" % diffs
        if len(shown) > 30000:
            shown = shown[:30000] + "\n... (%d more characters in %s)" % (len(shown) - 30000, diffs)
        raise AssertionError("make installcheck failed (exit %d)\n%s%s\n--- regression.diffs ---\n%s\n"
                             "--- server log ---\n%s" % (result.returncode, result.stdout[-6000:],
                                                         result.stderr[-3000:], shown, server.log_tail()))
