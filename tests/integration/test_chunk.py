"""pgml.chunk on the real server: rows equal what LangChain's splitters give
in this process (the test venv sees the pgml venv's libraries), numbered from 1 without gaps;
named-argument calls as the client SDK sends them; errors with SQLSTATE, message and hint."""
import importlib.util

import pytest
from psycopg.types.json import Jsonb

PROSE = "\n\n".join(
    "Paragraph %d. PostgresML runs machine learning inside Postgres. It keeps models next to the data, "
    "so there is no network hop. Ünïcödé and 日本語 text counts characters, not bytes." % i
    for i in range(1, 13))

MARKDOWN = """# PostgresML

PostgresML is a machine learning extension for PostgreSQL.

## Install

1. Install the extension.
2. Run `CREATE EXTENSION pgml;`

```sql
SELECT pgml.chunk('markdown', body) FROM documents;
```

## Chunking

* Split long documents into chunks.
* Embed each chunk.

***

Text after a horizontal rule, long enough to need a chunk of its own when the size is small.
"""

LATEX = r"""\documentclass{article}
\begin{document}
\section{Introduction}
PostgresML brings machine learning to the database. Models train where the data lives.
\subsection{Motivation}
Moving data out of the database is slow and error prone.
\begin{itemize}
\item Fewer copies of the data.
\item One place for access control.
\end{itemize}
\section{Method}
We split documents with LaTeX aware separators, then embed each chunk.
\begin{equation}
x = \frac{a}{b}
\end{equation}
\end{document}
"""

PYTHON = '''import math


class Vector:
    """A small vector."""

    def __init__(self, values):
        self.values = list(values)

    def norm(self):
        return math.sqrt(sum(v * v for v in self.values))


def dot(a, b):
    return sum(x * y for x, y in zip(a.values, b.values))


async def main():
    v = Vector([3, 4])
    print(v.norm(), dot(v, v))
'''

LANGCHAIN = {
    "character": "CharacterTextSplitter",
    "latex": "LatexTextSplitter",
    "markdown": "MarkdownTextSplitter",
    "python": "PythonCodeTextSplitter",
    "recursive_character": "RecursiveCharacterTextSplitter",
    "spacy": "SpacyTextSplitter",
}
TEXTS = {"character": PROSE, "latex": LATEX, "markdown": MARKDOWN, "python": PYTHON,
         "recursive_character": PROSE, "spacy": PROSE}


def langchain_chunks(splitter, text, **kwargs):
    """What LangChain itself gives, with the defaults pgml documents."""
    import langchain_text_splitters
    if splitter == "spacy" and "pipeline" not in kwargs and importlib.util.find_spec("en_core_web_sm") is None:
        kwargs["pipeline"] = "sentencizer"  # as pgml does when the English model is not installed
    return getattr(langchain_text_splitters, LANGCHAIN[splitter])(**kwargs).split_text(text)


def chunks(conn, splitter, text, kwargs=None):
    """All rows of pgml.chunk in the order the function returns them."""
    if kwargs is None:
        return conn.execute("SELECT chunk_index, chunk FROM pgml.chunk(%s, %s)", (splitter, text)).fetchall()
    return conn.execute("SELECT chunk_index, chunk FROM pgml.chunk(%s, %s, %s)",
                        (splitter, text, Jsonb(kwargs))).fetchall()


def assert_numbered(rows):
    assert [i for i, _ in rows] == list(range(1, len(rows) + 1))


# ---- results -----------------------------------------------------------------------------

def test_signature(shared_conn):
    row = shared_conn.execute("""
        SELECT pg_get_function_arguments(p.oid), pg_get_function_result(p.oid), p.provolatile, p.proisstrict,
               p.proparallel, p.proretset
        FROM pg_proc p WHERE p.oid = 'pgml.chunk(text, text, jsonb)'::regprocedure""").fetchone()
    assert row == ("splitter text, text text, kwargs jsonb DEFAULT '{}'::jsonb",
                   "TABLE(chunk_index bigint, chunk text)", "i", True, "u", True)  # PostgresML: SAFE


@pytest.mark.parametrize("size,overlap", [(100, 0), (100, 30), (250, 50), (40, 39)])
def test_recursive_character_equals_langchain(shared_conn, size, overlap):
    rows = chunks(shared_conn, "recursive_character", PROSE, {"chunk_size": size, "chunk_overlap": overlap})
    expected = langchain_chunks("recursive_character", PROSE, chunk_size=size, chunk_overlap=overlap)
    assert len(expected) > 3
    assert [c for _, c in rows] == expected
    assert_numbered(rows)


def test_result_column_types(shared_conn):
    cur = shared_conn.execute("""SELECT chunk_index, chunk, pg_typeof(chunk_index)::text, pg_typeof(chunk)::text
                                 FROM pgml.chunk('recursive_character', %s, '{"chunk_size": 50, "chunk_overlap": 5}')""",
                              (PROSE,))
    assert [d.name for d in cur.description[:2]] == ["chunk_index", "chunk"]
    rows = cur.fetchall()
    assert {r[2:] for r in rows} == {("bigint", "text")}
    assert all(isinstance(r[0], int) and isinstance(r[1], str) for r in rows)


def test_many_chunks_numbered_without_gaps(shared_conn):
    text = " ".join("word%d" % i for i in range(3000))
    rows = chunks(shared_conn, "recursive_character", text, {"chunk_size": 30, "chunk_overlap": 0})
    assert len(rows) > 500
    assert_numbered(rows)
    assert [c for _, c in rows] == langchain_chunks("recursive_character", text, chunk_size=30, chunk_overlap=0)


def test_default_kwargs(shared_conn):
    """Without kwargs: LangChain's defaults (chunk_size 4000, chunk_overlap 200)."""
    long_text = PROSE * 5
    rows = chunks(shared_conn, "recursive_character", long_text)
    assert [c for _, c in rows] == langchain_chunks("recursive_character", long_text)
    assert len(rows) > 1
    assert_numbered(rows)


def test_named_arguments_as_the_sdk_sends_them(shared_conn):
    kwargs = {"chunk_size": 120, "chunk_overlap": 20}
    rows = shared_conn.execute("SELECT chunk_index, chunk FROM pgml.chunk(splitter => %s, text => %s, kwargs => %s)",
                               ("character", PROSE, Jsonb(kwargs))).fetchall()
    assert [c for _, c in rows] == langchain_chunks("character", PROSE, **kwargs)
    assert_numbered(rows)
    # The same with the JSON as an untyped literal, and with the arguments in another order.
    again = shared_conn.execute(
        """SELECT chunk_index, chunk FROM pgml.chunk(kwargs => '{"chunk_size": 120, "chunk_overlap": 20}',
                                                     text => %s, splitter => 'character')""", (PROSE,)).fetchall()
    assert again == rows


@pytest.mark.parametrize("splitter", sorted(LANGCHAIN))
def test_each_offline_splitter_equals_langchain(shared_conn, splitter):
    kwargs = {"chunk_size": 120, "chunk_overlap": 20}
    rows = chunks(shared_conn, splitter, TEXTS[splitter], kwargs)
    expected = langchain_chunks(splitter, TEXTS[splitter], **kwargs)
    assert len(expected) > 1
    assert [c for _, c in rows] == expected
    assert_numbered(rows)


@pytest.mark.parametrize("kwargs", [
    {"chunk_size": 200, "chunk_overlap": 0, "separator": "\n\n"},
    {"chunk_size": 80, "chunk_overlap": 10, "separator": ". "},
    {"chunk_size": 80, "chunk_overlap": 10, "separator": r"\.\s", "is_separator_regex": True},
    {"chunk_size": 200, "chunk_overlap": 0, "strip_whitespace": False, "keep_separator": True},
])
def test_character_options(shared_conn, kwargs):
    rows = chunks(shared_conn, "character", PROSE, kwargs)
    assert [c for _, c in rows] == langchain_chunks("character", PROSE, **kwargs)
    assert_numbered(rows)


def test_recursive_character_separators(shared_conn):
    kwargs = {"chunk_size": 60, "chunk_overlap": 0, "separators": ["\n\n", ". ", " "]}
    rows = chunks(shared_conn, "recursive_character", PROSE, kwargs)
    assert [c for _, c in rows] == langchain_chunks("recursive_character", PROSE, **kwargs)


def test_empty_text_gives_no_rows(shared_conn):
    assert chunks(shared_conn, "recursive_character", "", {"chunk_size": 10, "chunk_overlap": 0}) == []


@pytest.mark.parametrize("query", [
    "SELECT * FROM pgml.chunk('character', NULL)",
    "SELECT * FROM pgml.chunk('character', NULL, '{}')",
    "SELECT * FROM pgml.chunk(NULL, 'some text')",
    "SELECT * FROM pgml.chunk('character', 'some text', NULL)",
    "SELECT * FROM pgml.chunk(splitter => 'character', text => NULL, kwargs => '{}')",
])
def test_null_argument_gives_no_rows(shared_conn, query):
    assert shared_conn.execute(query).fetchall() == []


def test_null_text_in_the_select_list(shared_conn):
    rows = shared_conn.execute("SELECT t, (pgml.chunk('character', t)).* FROM (VALUES ('a'), (NULL)) v(t)").fetchall()
    assert rows == [("a", 1, "a")]


# ---- errors ------------------------------------------------------------------------------

def assert_error(error, sqlstate, *substrings):
    assert error.sqlstate == sqlstate, (error.sqlstate, str(error))
    for s in substrings:
        assert s in error.diag.message_primary, (s, error.diag.message_primary)
    assert error.diag.message_hint, "no hint on: %s" % error.diag.message_primary


def test_unknown_splitter(conn, expect_error):
    error = expect_error(conn, "SELECT * FROM pgml.chunk('sentences', 'Some text.')")
    assert_error(error, "22023", "Unknown splitter", "sentences")
    assert "recursive_character" in error.diag.message_hint


def test_overlap_larger_than_size(conn, expect_error):
    error = expect_error(conn, """SELECT * FROM pgml.chunk('recursive_character', 'Some text.',
                                                          '{"chunk_size": 10, "chunk_overlap": 20}')""")
    assert_error(error, "22023", "chunk_overlap", "chunk_size")


@pytest.mark.parametrize("kwargs", ['{"chunk_size": 0}', '{"chunk_size": "100"}', '{"chunk_size": 10.5}',
                                    '{"chunk_overlap": -1}', '{"chunk_size": true}'])
def test_bad_sizes(conn, expect_error, kwargs):
    error = expect_error(conn, "SELECT * FROM pgml.chunk('character', 'Some text.', %s)", (kwargs,))
    assert_error(error, "22023", "must be")
    assert ("chunk_size" if "chunk_size" in kwargs else "chunk_overlap") in error.diag.message_primary


@pytest.mark.parametrize("kwargs", ["[1]", '"chunk_size"', "5"])
def test_kwargs_must_be_a_json_object(conn, expect_error, kwargs):
    error = expect_error(conn, "SELECT * FROM pgml.chunk('character', 'Some text.', %s)", (kwargs,))
    assert_error(error, "22023", "kwargs", "JSON object")


@pytest.mark.parametrize("splitter", sorted(LANGCHAIN))
def test_unknown_splitter_option(conn, expect_error, splitter):
    error = expect_error(conn, """SELECT * FROM pgml.chunk(%s, 'Some text.', '{"chunk_sizes": 10}')""", (splitter,))
    assert_error(error, "22023", splitter, "chunk_sizes")


def test_nltk_without_punkt_data(conn, expect_error, public_dir):
    """NLTK looks for its data in nltk.data.path only (NLTK_DATA and the default folders, read
    once at import): this backend's is set to an empty folder, so the test runs whether or not
    punkt_tab is installed on the machine."""
    empty = public_dir / "nltk-data-empty"
    empty.mkdir(exist_ok=True)
    conn.execute("SELECT pgml.version()")   # puts pgml's venv on this backend's sys.path
    conn.execute("DO $$\nimport os\nos.environ['NLTK_DATA'] = %s\nimport nltk\nnltk.data.path[:] = [%s]\n$$ "
                 "LANGUAGE plpython3u" % (repr(str(empty)), repr(str(empty))))
    error = expect_error(conn, "SELECT * FROM pgml.chunk('nltk', 'One sentence. Another one.')")
    assert_error(error, "58P01", "nltk", "punkt")
    assert "nltk.downloader" in error.diag.message_hint and "punkt" in error.diag.message_hint
    detail = error.diag.message_detail
    assert detail is None or "punkt" in detail, detail


# ---- parallel plans ----------------------------------------------------------------------

PARALLEL = ["SET parallel_setup_cost = 0", "SET parallel_tuple_cost = 0", "SET min_parallel_table_scan_size = 0",
            "SET max_parallel_workers_per_gather = 2"]


def test_chunk_never_in_a_parallel_plan(server):
    """chunk is PARALLEL UNSAFE (pgml never starts in parallel mode, where PostgreSQL would drop
    its configured settings: docs/security.md): with every parallel setting on, the plan has no
    Gather, and a fresh backend chunks every row."""
    with server.connect() as setup:
        setup.execute("DROP TABLE IF EXISTS public.pgml_test_chunk_parallel")
        setup.execute("CREATE TABLE public.pgml_test_chunk_parallel AS "
                      "SELECT i, repeat('Sentence number ' || i || '. ', 20) AS body FROM generate_series(1, 2000) i")
        setup.execute("ANALYZE public.pgml_test_chunk_parallel")
    query = ("""SELECT count(*), sum(length(chunk)) FROM public.pgml_test_chunk_parallel,
                LATERAL pgml.chunk('recursive_character', body, '{"chunk_size": 100, "chunk_overlap": 0}')""")
    try:
        with server.connect() as c:  # closed at once on an error: its Python is not reused
            for setting in PARALLEL:
                c.execute(setting)
            plan = "\n".join(r[0] for r in c.execute("EXPLAIN (COSTS OFF) " + query))
            assert "Gather" not in plan, plan
            got = c.execute(query).fetchone()
        bodies = [("Sentence number %d. " % i) * 20 for i in range(1, 2001)]
        pieces = [p for b in bodies for p in langchain_chunks("recursive_character", b, chunk_size=100, chunk_overlap=0)]
        assert got == (len(pieces), sum(len(p) for p in pieces))
    finally:
        with server.connect() as c:
            c.execute("DROP TABLE public.pgml_test_chunk_parallel")
