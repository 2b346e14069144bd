"""The SQL contract: every pgml function's signature, return type, volatility, strictness and
parallel label, against tests/expected/functions.txt (PostgresML's names and defaults). A change
here is a change of the API: update the golden file on purpose, never to make a test pass."""
from pathlib import Path

GOLDEN = Path(__file__).resolve().parents[1] / "expected" / "functions.txt"

QUERY = """
SELECT p.proname || '(' || pg_get_function_arguments(p.oid) || ') -> ' || pg_get_function_result(p.oid)
       || ' ' || CASE p.provolatile WHEN 'i' THEN 'IMMUTABLE' WHEN 's' THEN 'STABLE' ELSE 'VOLATILE' END
       || CASE WHEN p.proisstrict THEN ' STRICT' ELSE '' END
       || CASE p.proparallel WHEN 's' THEN ' PARALLEL SAFE' WHEN 'r' THEN ' PARALLEL RESTRICTED' ELSE '' END
       || CASE p.prokind WHEN 'a' THEN ' AGGREGATE' ELSE '' END
FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
WHERE n.nspname = 'pgml' ORDER BY 1"""


def test_functions_match_the_golden_file(conn):
    got = [r[0] for r in conn.execute(QUERY)]
    expected = GOLDEN.read_text().splitlines()
    missing, extra = sorted(set(expected) - set(got)), sorted(set(got) - set(expected))
    assert not missing and not extra, "missing:\n%s\nunexpected:\n%s" % ("\n".join(missing), "\n".join(extra))
