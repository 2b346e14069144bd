r"""The documentation is tested: every ```sql block of README.md and of each docs/*.md runs, in
document order, on a fresh database of the test server (one database per file, so each file
stands alone), and where a file shows psql's output the output must match. A new docs/*.md is
picked up by itself.

The convention (also in a comment at the top of README.md), for whoever adds a section:
- Every ```sql block of a file runs as written in ONE `psql -X -q -v ON_ERROR_STOP=1` session, in
  document order (models load once): tables AND session state (SET, setseed(), `\x`, an open
  transaction, the model cache) carry over to the next block, so put a setting back (RESET,
  `\x off`) in the block that changed it. Each block must succeed and end with `;` (or a psql
  backslash command). The test separates the blocks' output with `\echo` markers; a failing
  block is reported with its file and line, and the blocks after it run in a new session.
- If the next fenced block after it (only blank lines between) is a ```text block, that block is
  psql's expected stdout for the whole sql block (trailing spaces and blank lines ignored; NOTICEs
  go to stderr and are not compared). Show only values that are reproducible: seed randomness
  (`SELECT setseed(0.5)` in the same block), round floats, or say in prose that a value varies
  and leave it out of the output block.
- The database is made like `make demo` + `make tiny-models` make theirs: `CREATE EXTENSION pgml
  CASCADE`, the packaged all-MiniLM-L6-v2, and the tiny models of scripts/tiny-models.py under
  pgml-tiny/ in the model store (here a temporary store, with the packaged model and its
  install-time exports linked in, set with ALTER DATABASE ... SET
  pgml.model_store; the files' `/var/lib/pgml/models` is replaced by that store's path).
- A block that genuinely cannot run here (a model only on the Hugging Face hub) is preceded by
  `<!-- readme-test: skip: <why> -->`. Keep those few.
"""
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = [ROOT / "README.md"] + sorted((ROOT / "docs").glob("*.md"))
SKIP = re.compile(r"<!--\s*readme-test:\s*skip:(.*?)-->")
FENCE = re.compile(r"^```(\w*)\s*$")


def blocks(text):
    """[(line, sql, expected output or None, skip reason or None)] in document order."""
    lines = text.splitlines()
    fenced, i = [], 0
    while i < len(lines):
        m = FENCE.match(lines[i])
        if m and m.group(1):
            start, body = i, []
            i += 1
            while i < len(lines) and not FENCE.match(lines[i]):
                body.append(lines[i])
                i += 1
            fenced.append((start, i, m.group(1), "\n".join(body)))
        i += 1
    out = []
    for n, (start, end, lang, body) in enumerate(fenced):
        if lang != "sql":
            continue
        before = [l for l in lines[:start] if l.strip()][-1:] or [""]
        skip = SKIP.search(before[0])
        expected = None
        if n + 1 < len(fenced) and fenced[n + 1][2] == "text" and \
                all(not l.strip() for l in lines[end + 1:fenced[n + 1][0]]):
            expected = fenced[n + 1][3]
        out.append((start + 1, body, expected, skip.group(1).strip() if skip else None))
    return out


def normalized(text):
    return "\n".join(l.rstrip() for l in text.strip("\n").splitlines()).strip("\n")


def test_the_convention_is_parsed():
    sample = "x\n```sql\nSELECT 1;\n```\n\n```text\n a\n```\n<!-- readme-test: skip: hub -->\n```sql\nSELECT 2;\n```\n"
    assert blocks(sample) == [(2, "SELECT 1;", " a", None), (10, "SELECT 2;", None, "hub")]


@pytest.fixture(scope="module")
def readme_store(public_dir):
    store = public_dir / "readme-store"
    store.mkdir(exist_ok=True)
    store.chmod(0o755)
    # the packaged MiniLM, as in the real store
    (store / "sentence-transformers").mkdir(exist_ok=True)
    (store / "sentence-transformers").chmod(0o755)
    minilm = Path("/var/lib/pgml/models/sentence-transformers/all-MiniLM-L6-v2")
    link = store / "sentence-transformers" / "all-MiniLM-L6-v2"
    if not link.exists():
        link.symlink_to(minilm.resolve())
    # and its exports, made by make install (else the first embed exports it again, ~15 s)
    exports = Path("/var/lib/pgml/models/.pgml-exports")
    if exports.is_dir() and not (store / ".pgml-exports").exists():
        (store / ".pgml-exports").symlink_to(exports.resolve())
    subprocess.run([sys.executable, str(ROOT / "scripts" / "tiny-models.py"), str(store)], check=True,
                   capture_output=True, env=dict(os.environ, HF_HUB_OFFLINE="1"))
    return store


def fresh_db(server, store, name):
    """A new database `name` with the extension, its model store set to `store`."""
    with server.connect() as c:
        c.execute("DROP DATABASE IF EXISTS %s WITH (FORCE)" % name)
        c.execute("CREATE DATABASE %s" % name)
        c.execute("ALTER DATABASE %s SET pgml.model_store = '%s'" % (name, str(store).replace("'", "''")))
    url = server.url.rsplit("/", 1)[0] + "/" + name
    import psycopg
    with psycopg.connect(url, autocommit=True) as c:
        c.execute("SET client_min_messages = warning")
        c.execute("CREATE EXTENSION pgml CASCADE")
    return url


MARK = "@@readme-block"
MARKER = re.compile(r"^%s (\d+)$" % MARK, re.M)


def split_by_marker(text):
    """{line: what the session printed between that block's marker and the next}."""
    parts = MARKER.split(text)
    return {int(parts[i]): parts[i + 1] for i in range(1, len(parts) - 1, 2)}


def ends_a_statement(sql):
    code = [l for l in sql.splitlines() if l.strip() and not l.strip().startswith("--")]
    return not code or re.search(r";\s*(--.*)?$", code[-1]) or code[-1].lstrip().startswith("\\")


def run_session(psql, url, todo):
    """Runs [(line, sql)] in one psql session; returns ({line: stdout}, {line: stderr},
    the line of the block that failed or None)."""
    script = []
    for line, sql in todo:
        script += ["\\echo %s %d" % (MARK, line), "\\warn %s %d" % (MARK, line), sql]
    script += ["\\echo %s 0" % MARK, "\\warn %s 0" % MARK]
    done = subprocess.run([str(psql), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-P", "pager=off", url],
                          input="\n".join(script) + "\n", capture_output=True, text=True, timeout=1200)
    out, err = split_by_marker(done.stdout), split_by_marker(done.stderr)
    failed = None
    if done.returncode != 0:
        failed = max((l for l in out if l), key=lambda l: [t[0] for t in todo].index(l),
                     default=todo[0][0])
    return out, err, failed


@pytest.mark.slow
@pytest.mark.parametrize("doc", DOCS, ids=lambda d: str(d.relative_to(ROOT)))
def test_sql_blocks_run_and_show_their_output(doc, server, readme_store):
    name = str(doc.relative_to(ROOT))
    store = readme_store
    url = fresh_db(server, store, "doc_" + re.sub(r"\W", "_", doc.stem.lower()))
    psql = Path(subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True,
                               check=True).stdout.strip()) / "psql"
    runnable = [(line, sql.replace("/var/lib/pgml/models", str(store)), expected)
                for line, sql, expected, skip in blocks(doc.read_text()) if skip is None]
    if not runnable:
        pytest.skip("%s has no runnable sql block" % name)
    failures = ["%s:%d: the block must end with ';' (psql would join it to the next)" % (name, line)
                for line, sql, _ in runnable if not ends_a_statement(sql)]
    assert not failures, "\n".join(failures)
    expected = {line: exp for line, _, exp in runnable}
    todo = [(line, sql) for line, sql, _ in runnable]
    outputs = {}
    while todo:
        out, err, failed = run_session(psql, url, todo)
        outputs.update(out)
        if failed is None:
            break
        failures.append("%s:%d failed (later blocks ran in a new session):\n%s"
                        % (name, failed, err.get(failed, "")[-2000:]))
        todo = todo[[t[0] for t in todo].index(failed) + 1:]
    if os.environ.get("PGML_README_OUTPUT"):  # to write a new ```text block from what psql printed
        with open(os.environ["PGML_README_OUTPUT"], "a") as f:
            f.write("".join("=== %s:%d\n%s\n" % (name, l, normalized(o)) for l, o in sorted(outputs.items()) if l))
    for line, exp in expected.items():
        if exp is not None and line in outputs and normalized(outputs[line]) != normalized(exp):
            failures.append("%s:%d output differs.\n--- %s\n%s\n--- psql\n%s"
                            % (name, line, name, normalized(exp), normalized(outputs[line])))
    assert not failures, "\n\n".join(failures)
