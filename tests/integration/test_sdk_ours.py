"""The project's own client SDK (sdk/python, import name pgml) against the session's server:
its tests (sdk/python/tests: documents, filters, pipelines, searches, RAG, sync twin, typed
errors, a role with nothing but pgml.grant_usage) and PostgresML SDK 1.1.1's own test.py and
stress_test.py run unchanged with our package as `pgml` (sdk/python/run-tests.sh does both, in
the SDK's own venv sdk/python/.venv)."""
import os
import subprocess
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]


def run(server, what):
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "DATABASE_URL", "PGML_DATABASE_URL")}
    env["PGML_SDK_ADMIN_URL"] = server.url
    done = subprocess.run(["bash", str(ROOT / "sdk" / "python" / "run-tests.sh"), what],
                          capture_output=True, text=True, env=env, timeout=900)
    assert done.returncode == 0, "%s\n%s\n--- server log ---\n%s" % (
        done.stdout[-8000:], done.stderr[-4000:], server.log_tail(40))
    return done.stdout


def test_our_sdk_tests_pass(server):
    out = run(server, "ours")
    assert " passed" in out and " failed" not in out


def test_official_sdk_suite_passes_with_our_sdk(server):
    out = run(server, "official")
    assert "21 passed" in out and "stress_test.py exit status 0" in out
