"""pgspot (PyPI) lints the install and upgrade scripts for search-path capture (CVE-2018-1058
class): every function pins search_path or names every object with its schema. The only findings
allowed are listed here with the reason; anything new fails."""
import re
import subprocess
import sys
from pathlib import Path

import pgml_py

ROOT = Path(__file__).resolve().parents[2]
PGSPOT = Path(sys.executable).parent / "pgspot"

# (code, text of the finding) allowed in every script that holds 1.0's catalog.
FROZEN_1_0 = {
    # 1.0's trigger helpers, kept byte for byte (an upgraded database must equal a fresh one);
    # sql/catalog/1.1.sql pins their search_path with ALTER FUNCTION, which pgspot cannot see.
    ("PS005", "Function without explicit search_path: pgml.set_updated_at()"),
    ("PS001", "Unqualified operator: '=' in new.* IS DISTINCT FROM old.*"),
    ("PS016", "Unqualified function call: clock_timestamp"),
    ("PS005", "Function without explicit search_path: pgml.auto_updated_at(tbl regclass)"),
    ("PS017", "Unqualified object reference: text in CAST(tbl AS text)"),
}
# An upgrade script replaces the extension's own functions and views: CREATE OR REPLACE is the
# only way, and since PostgreSQL 15 it refuses to take over an object that is not already a
# member of the extension.
UPGRADE = {"PS002", "PS015"}


def findings(script):
    done = subprocess.run([str(PGSPOT), "--ignore-lang", "plpython3u", str(ROOT / script)],
                          capture_output=True, text=True)
    out = done.stdout + done.stderr
    assert "syntax error" not in out, out  # pgspot stops analysing at a statement it cannot parse
    assert re.search(r"Errors: \d+ Warnings: \d+ Unknown: 0", out), out
    return [tuple(m) for m in re.findall(r"^(PS\d+): (.*?) at line \d+$", out, re.M)]


def test_full_install_script_is_clean():
    script = "pgml--%s.sql" % pgml_py.__version__
    unexpected = [f for f in findings(script) if f not in FROZEN_1_0]
    assert not unexpected, unexpected


def test_upgrade_scripts_are_clean():
    for script in sorted(ROOT.glob("pgml--*--%s.sql" % pgml_py.__version__)):
        unexpected = [f for f in findings(script.name) if f[0] not in UPGRADE]
        assert not unexpected, (script.name, unexpected)
