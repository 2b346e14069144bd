"""docs/reference.md documents the installed extension: every line of its ```signatures blocks is
one pgml function or overload, in the form test_signatures.py reads from pg_proc
(`pgml.<name>(<arguments>) -> <result> <labels>`), and the two sets are equal. A function added to
the SQL without its line here, or a line left behind by a removed function, fails this test, which
prints the exact lines to add or remove."""
import re
from pathlib import Path

from tests.integration.test_signatures import QUERY

REFERENCE = Path(__file__).resolve().parents[2] / "docs" / "reference.md"
BLOCK = re.compile(r"^```signatures\n(.*?)^```$", re.M | re.S)


def documented(text):
    """The signature lines of every ```signatures block, in document order."""
    return [l.strip() for body in BLOCK.findall(text) for l in body.splitlines() if l.strip()]


def test_the_signature_blocks_are_parsed():
    sample = "x\n```signatures\npgml.a() -> text IMMUTABLE\n\npgml.b(x int) -> int VOLATILE\n```\n```sql\nSELECT 1;\n```\n"
    assert documented(sample) == ["pgml.a() -> text IMMUTABLE", "pgml.b(x int) -> int VOLATILE"]


def test_every_function_is_documented_and_nothing_else(conn):
    installed = {"pgml." + r[0] for r in conn.execute(QUERY)}
    lines = documented(REFERENCE.read_text())
    twice = sorted({l for l in lines if lines.count(l) > 1})
    missing, extra = sorted(installed - set(lines)), sorted(set(lines) - installed)
    assert not (missing or extra or twice), (
        "docs/reference.md and pg_proc differ.\nadd to a ```signatures block:\n%s\n"
        "remove (no such function):\n%s\ndocumented twice:\n%s"
        % ("\n".join(missing), "\n".join(extra), "\n".join(twice)))
