"""Attacks on pgml's inputs (issue 16), as a non-superuser login role against the real server:
remote code asked for at any depth, server files named in arguments, library code that replaces
the backend's signal handlers, separator regexes that never end, hub retries, and the SQLSTATE of
the minor cases. Every attack must fail with its SQLSTATE and a hint, run none of the crafted
folders' code (their marker file never appears), and leave statement_timeout, lock_timeout and
pg_cancel_backend working in that connection."""
import json
import pickle
import threading
import time

import psycopg
import pytest

from fixtures import tiny_models, tiny_pipelines as tiny
from tests.conftest import STOPPED_PROMPTLY, assert_stopped_promptly

ROLE = "secin_app"
MINILM = "sentence-transformers/all-MiniLM-L6-v2"
PACKAGED_MINILM = "/var/lib/pgml/models/" + MINILM  # make install registers it there
CUSTOM = "evil/custom"  # a model_type transformers does not know, with auto_map to its own code

# Imported only when transformers runs the folder's code: leaves a marker, then defines a BERT.
CODE = '''import os
open({marker!r}, "w").write("ran")
{extra}
from transformers import BertConfig, BertModel


class EvilConfig(BertConfig):
    model_type = {model_type!r}


class EvilModel(BertModel):
    config_class = EvilConfig
'''
# For the guard test: code that replaces PostgreSQL's handlers and arms its own alarm.
TAKE_SIGNALS = '''import signal
for _s in (signal.SIGALRM, signal.SIGINT, signal.SIGTERM, signal.SIGUSR1):
    signal.signal(_s, lambda *args: None)
signal.alarm(60)'''


def custom_code_model(directory, marker, model_type="pgml-evil", extra=""):
    """A tiny BERT encoder whose config.json sends AutoConfig/AutoModel to evil_code.py."""
    directory = tiny_models.bert_encoder(directory)
    (directory / "evil_code.py").write_text(CODE.format(marker=str(marker), model_type=model_type, extra=extra))
    config = json.loads((directory / "config.json").read_text())
    config.update(model_type=model_type, auto_map={"AutoConfig": "evil_code.EvilConfig",
                                                   "AutoModel": "evil_code.EvilModel"})
    (directory / "config.json").write_text(json.dumps(config))
    for path in directory.iterdir():
        path.chmod(0o644)
    return directory


@pytest.fixture(scope="module")
def lab(public_dir):
    """A model store with tiny models of every kind and crafted code folders; a marker directory
    the server may write to."""
    root = public_dir / "secin"
    store, markers = root / "store", root / "markers"
    markers.mkdir(parents=True)
    markers.chmod(0o777)
    custom_code_model(store / "evil" / "custom", markers / "custom")
    custom_code_model(store / "evil" / "signals", markers / "signals", extra=TAKE_SIGNALS)
    tiny_models.bert_encoder(store / "t" / "enc")
    tiny.text_classifier(store / "t" / "cls")
    tiny.gpt2(store / "t" / "gpt2")
    tiny.cross_encoder(store / "t" / "cross")
    tiny_models.t5_seq2seq(store / "t" / "t5")
    tiny_models.bert_question_answering(store / "t" / "qa")
    (store / "sentence-transformers").mkdir()
    (store / "sentence-transformers" / "all-MiniLM-L6-v2").symlink_to(PACKAGED_MINILM)
    for directory in (root, store, store / "evil", store / "t", store / "sentence-transformers"):
        directory.chmod(0o755)
    return {"store": store, "markers": markers}


@pytest.fixture(scope="module")
def app(server, lab):
    """connect(): a new connection as ROLE, a login role granted pgml the documented way, whose
    model store an administrator set (ALTER ROLE ... SET: a trusted source)."""
    with server.connect() as admin:
        drop_role(admin)
        admin.execute("""
            CREATE ROLE %(role)s LOGIN;
            SELECT pgml.grant_usage('%(role)s');
            DROP TABLE IF EXISTS public.secin_lock, public.secin_rows;
            CREATE TABLE public.secin_lock (i INT);
            CREATE TABLE public.secin_rows AS
            SELECT CASE WHEN i %% 2 = 0 THEN 'the cat is good' ELSE 'the dog is bad' END AS text,
                   CASE WHEN i %% 2 = 0 THEN 'positive' ELSE 'negative' END AS class, i::float4 AS x,
                   (2 * i)::float4 AS y
            FROM generate_series(1, 16) i;
            GRANT SELECT ON public.secin_lock, public.secin_rows TO %(role)s;
        """ % {"role": ROLE})
        admin.execute("ALTER ROLE %s SET pgml.model_store = %s" % (ROLE, psycopg.sql.quote(str(lab["store"]))))

    def connect():
        return psycopg.connect(server.url.replace("postgres@", "%s@" % ROLE), autocommit=True)
    yield connect
    with server.connect() as admin:
        drop_role(admin)
        admin.execute("DROP TABLE IF EXISTS public.secin_lock, public.secin_rows")


def drop_role(admin):
    if admin.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (ROLE,)).fetchone():
        admin.execute("SELECT pgml.revoke_usage('%s')" % ROLE)
        admin.execute("DELETE FROM pgml.projects WHERE owner = '%s'::regrole" % ROLE)
        admin.execute("DELETE FROM pgml.snapshots WHERE owner = '%s'::regrole" % ROLE)
        admin.execute("DROP OWNED BY %s" % ROLE)
        admin.execute("DROP ROLE %s" % ROLE)


@pytest.fixture(scope="module")
def app_conn(app):
    """One connection as ROLE for the attack and load cases: torch and transformers import once,
    and each case checks the signals right after its own call."""
    with app() as conn:
        yield conn


@pytest.fixture
def markers(lab):
    """The crafted folders' markers, none left from an earlier test."""
    for marker in lab["markers"].iterdir():
        marker.unlink()
    yield lab["markers"]


@pytest.fixture
def admin_store(server, lab):
    """A superuser connection whose model store is the lab's."""
    with server.connect() as c:
        c.execute("SET pgml.model_store = %s" % psycopg.sql.quote(str(lab["store"])))
        yield c


def attempt(conn, query, params=None):
    """Runs query; returns None when it succeeds, else the psycopg error (the connection stays usable)."""
    try:
        conn.execute(query, params).fetchall()
        return None
    except psycopg.Error as e:
        conn.execute("SELECT 1")
        return e


def assert_timeouts_work(server, conn):
    """statement_timeout, lock_timeout and pg_cancel_backend still stop a statement (promptly: the
    shared bound of tests/conftest.py; uncancelled, each would sleep a minute)."""
    conn.execute("SET statement_timeout = '1s'")
    started = time.monotonic()
    with pytest.raises(psycopg.errors.QueryCanceled, match="statement timeout"):
        conn.execute("SELECT pg_sleep(60)")
    assert_stopped_promptly(started, after=1)
    conn.execute("RESET statement_timeout")

    with server.connect(autocommit=False) as holder:
        holder.execute("LOCK TABLE public.secin_lock IN ACCESS EXCLUSIVE MODE")
        conn.execute("SET lock_timeout = '500ms'")
        started = time.monotonic()
        with pytest.raises(psycopg.errors.LockNotAvailable):
            conn.execute("SELECT * FROM public.secin_lock")
        assert_stopped_promptly(started, after=0.5)
        conn.execute("RESET lock_timeout")
        holder.rollback()

    pid = conn.execute("SELECT pg_backend_pid()").fetchone()[0]
    with server.connect() as admin:
        timer = threading.Timer(0.5, lambda: admin.execute("SELECT pg_cancel_backend(%s)", (pid,)))
        timer.start()
        started = time.monotonic()
        with pytest.raises(psycopg.errors.QueryCanceled, match="user request"):
            conn.execute("SELECT pg_sleep(60)")
        timer.join()
    assert_stopped_promptly(started)


def task(**options):
    return json.dumps(options)


# ---- 1. remote code, asked for at any depth ----------------------------------------------

REMOTE_CODE_ATTACKS = {
    "embed top level": ("SELECT pgml.embed(%s, 'a', %s)", (CUSTOM, task(trust_remote_code=True))),
    "embed config_kwargs": ("SELECT pgml.embed(%s, 'a', %s)", (CUSTOM, task(config_kwargs={"trust_remote_code": True}))),
    "embed model_kwargs": ("SELECT pgml.embed(%s, 'a', %s)", (CUSTOM, task(model_kwargs={"trust_remote_code": True}))),
    "embed tokenizer_kwargs": ("SELECT pgml.embed(%s, 'a', %s)",
                               (CUSTOM, task(tokenizer_kwargs={"trust_remote_code": "yes"}))),
    "embed batch, nested twice": ("SELECT pgml.embed(%s, ARRAY['a'], %s)",
                                  (CUSTOM, task(model_kwargs={"x": [{"trust_remote_code": 1}]}))),
    "transform tokenizer_kwargs": ("SELECT pgml.transform(%s::jsonb, inputs => ARRAY['a'])",
                                   (task(task="feature-extraction", model=CUSTOM,
                                         tokenizer_kwargs={"trust_remote_code": True}),)),
    "transform model_kwargs": ("SELECT pgml.transform(%s::jsonb, inputs => ARRAY['a'])",
                               (task(task="feature-extraction", model=CUSTOM, model_kwargs={"trust_remote_code": True}),)),
    "transform config": ("SELECT pgml.transform(%s::jsonb, inputs => ARRAY['a'])",
                         (task(task="feature-extraction", model=CUSTOM, config={"trust_remote_code": True}),)),
    "transform summarization runner": ("SELECT pgml.transform(%s::jsonb, inputs => ARRAY['a'])",
                                       (task(task="summarization", model=CUSTOM,
                                             tokenizer_kwargs={"trust_remote_code": True}),)),
    "transform args custom_generate": ("SELECT pgml.transform(%s::jsonb, %s::jsonb, ARRAY['a'])",
                                       (task(task="text-generation", model="t/gpt2"),
                                        task(custom_generate=CUSTOM, max_new_tokens=2))),
    "transform args trust_remote_code": ("SELECT pgml.transform(%s::jsonb, %s::jsonb, ARRAY['a'])",
                                         (task(task="text-generation", model="t/gpt2"),
                                          task(trust_remote_code=True, max_new_tokens=2))),
    "transform_stream model_kwargs": ("SELECT * FROM pgml.transform_stream(%s::jsonb, '{}', 'a')",
                                      (task(task="text-generation", model=CUSTOM, model_kwargs={"trust_remote_code": True}),)),
    "rank config_kwargs": ("SELECT * FROM pgml.rank(%s, 'q', ARRAY['a'], %s)",
                           (CUSTOM, task(config_kwargs={"trust_remote_code": True}))),
    "tune tokenizer_args": ("SELECT * FROM pgml.tune('secin_attack', task => 'text-classification', "
                            "relation_name => 'public.secin_rows', model_name => %s, hyperparams => %s)",
                            (CUSTOM, task(tokenizer_args={"trust_remote_code": True}))),
}


@pytest.mark.parametrize("name", list(REMOTE_CODE_ATTACKS))
def test_remote_code_is_refused_at_any_depth(server, app_conn, markers, name):
    query, params = REMOTE_CODE_ATTACKS[name]
    error = attempt(app_conn, query, params)
    assert error is not None and error.sqlstate == "42501", error
    assert "remote code" in error.diag.message_primary and error.diag.message_hint
    assert list(markers.iterdir()) == []
    assert_timeouts_work(server, app_conn)
    if name.startswith("tune"):
        with server.connect() as admin:  # refused before anything was written
            assert admin.execute("SELECT count(*) FROM pgml.models m JOIN pgml.projects p ON p.id = m.project_id "
                                 "WHERE p.name = 'secin_attack'").fetchone() == (0,)


def test_a_folder_that_needs_its_own_code_is_a_clear_error(app, markers):
    with app() as conn:
        for query, params in [("SELECT pgml.embed(%s, 'a')", (CUSTOM,)),
                              ("SELECT pgml.transform(%s::jsonb, inputs => ARRAY['a'])",
                               (task(task="feature-extraction", model=CUSTOM),))]:
            error = attempt(conn, query, params)
            assert error.sqlstate == "42501" and "needs to run its own Python code" in error.diag.message_primary
            assert error.diag.message_hint
    assert list(markers.iterdir()) == []


def test_remote_code_runs_only_when_the_trusted_settings_allow_it(admin_store, markers):
    conn = admin_store
    conn.execute("SET pgml.huggingface_trust_remote_code = on")
    conn.execute("SET pgml.huggingface_trust_remote_code_whitelist = 't/enc'")
    error = attempt(conn, "SELECT pgml.embed(%s, 'a', '{\"trust_remote_code\": true}')", (CUSTOM,))
    assert error.sqlstate == "42501" and not list(markers.iterdir())  # not listed
    conn.execute("SET pgml.huggingface_trust_remote_code_whitelist = %s" % psycopg.sql.quote(CUSTOM))
    assert attempt(conn, "SELECT pgml.embed(%s, 'a', '{\"trust_remote_code\": true}')", (CUSTOM,)) is None
    assert [m.name for m in markers.iterdir()] == ["custom"]  # pgml passed trust_remote_code=True


# ---- 2. signal handlers ------------------------------------------------------------------

LOADS = {
    "embed MiniLM": ("SELECT pgml.embed(%s, 'a')", (MINILM,), None),
    "embed tiny": ("SELECT pgml.embed('t/enc', ARRAY['a', 'b'])", None, None),
    "transform text-classification": ("SELECT pgml.transform(%s::jsonb, inputs => ARRAY['a'])",
                                      (task(task="text-classification", model="t/cls"),), None),
    "transform text-generation": ("SELECT pgml.transform(%s::jsonb, '{\"max_new_tokens\": 2}', ARRAY['a'])",
                                  (task(task="text-generation", model="t/gpt2"),), None),
    "transform summarization": ("SELECT pgml.transform(%s::jsonb, '{\"max_new_tokens\": 2}', ARRAY['the cat'])",
                                (task(task="summarization", model="t/t5"),), None),
    "transform question-answering": ("SELECT pgml.transform(%s::jsonb, inputs => ARRAY[%s])",
                                     (task(task="question-answering", model="t/qa"),
                                      json.dumps({"question": "what", "context": "the cat"})), None),
    "transform_stream": ("SELECT * FROM pgml.transform_stream(%s::jsonb, '{\"max_new_tokens\": 2}', 'a')",
                         (task(task="text-generation", model="t/gpt2"),), None),
    "rank": ("SELECT * FROM pgml.rank('t/cross', 'q', ARRAY['a', 'b'])", None, None),
    "chunk": ("SELECT * FROM pgml.chunk('recursive_character', 'a b c')", None, None),
    "refused custom code: embed": ("SELECT pgml.embed(%s, 'a')", (CUSTOM,), "42501"),
    "refused custom code: feature-extraction": ("SELECT pgml.transform(%s::jsonb, inputs => ARRAY['a'])",
                                                (task(task="feature-extraction", model=CUSTOM),), "42501"),
    "refused custom code: summarization": ("SELECT pgml.transform(%s::jsonb, inputs => ARRAY['a'])",
                                           (task(task="summarization", model=CUSTOM),), "42501"),
    "refused custom code: question-answering": ("SELECT pgml.transform(%s::jsonb, inputs => ARRAY[%s])",
                                                (task(task="question-answering", model=CUSTOM),
                                                 json.dumps({"question": "a", "context": "b"})), "42501"),
    "refused custom code: rank": ("SELECT * FROM pgml.rank(%s, 'q', ARRAY['a'])", (CUSTOM,), "42501"),
}


@pytest.mark.parametrize("name", list(LOADS))
def test_timeouts_and_cancel_work_after_every_kind_of_load(server, app_conn, markers, name):
    query, params, sqlstate = LOADS[name]
    error = attempt(app_conn, query, params)
    assert (error.sqlstate if error else None) == sqlstate, error
    assert list(markers.iterdir()) == []
    assert_timeouts_work(server, app_conn)


def test_handlers_that_allowed_code_replaces_are_put_back(server, admin_store, markers):
    """The guard itself: trusted code that takes SIGALRM, SIGINT, SIGTERM and SIGUSR1 and arms
    its own alarm while loading; afterwards all of PostgreSQL's timeouts and signals work."""
    conn = admin_store
    conn.execute("SET pgml.huggingface_trust_remote_code = on")
    conn.execute("SET pgml.huggingface_trust_remote_code_whitelist = 'evil/signals'")
    assert attempt(conn, "SELECT pgml.embed('evil/signals', 'a', '{\"trust_remote_code\": true}')") is None
    assert [m.name for m in markers.iterdir()] == ["signals"]  # the code ran
    assert_timeouts_work(server, conn)
    pid = conn.execute("SELECT pg_backend_pid()").fetchone()[0]
    with server.connect() as admin:
        timer = threading.Timer(0.5, lambda: admin.execute("SELECT pg_terminate_backend(%s)", (pid,)))
        timer.start()
        started = time.monotonic()
        with pytest.raises(psycopg.OperationalError):
            conn.execute("SELECT pg_sleep(60)")
        timer.join()
    assert_stopped_promptly(started)


# ---- 3. files on the server --------------------------------------------------------------

def data_directory(server):
    with server.connect() as admin:
        return admin.execute("SHOW data_directory").fetchone()[0]


@pytest.fixture
def no_text_table(server):
    with server.connect() as admin:
        admin.execute('DROP TABLE IF EXISTS pgml."text"')
    yield
    with server.connect() as admin:
        admin.execute('DROP TABLE IF EXISTS pgml."text"')


def test_load_dataset_of_a_server_file_needs_pg_read_server_files(server, app, no_text_table):
    conf = data_directory(server) + "/postgresql.conf"
    attacks = [("text", {"data_files": conf}), ("text", {"data_files": "postgresql.conf"}),
               ("text", {"data_files": {"train": ["pg_hba.conf"]}}), ("text", {"data_files": "*.conf"}),
               ("text", {"data_dir": data_directory(server)}), ("csv", {"data_files": "x", "cache_dir": "/tmp/x"}),
               (data_directory(server), {}), ("global", {})]
    with app() as conn:
        for source, kwargs in attacks:
            error = attempt(conn, "SELECT * FROM pgml.load_dataset(%s, kwargs => %s)", (source, json.dumps(kwargs)))
            assert error is not None and error.sqlstate == "42501", (source, kwargs, error)
            assert "permission denied to read server path" in error.diag.message_primary
            assert "pg_read_server_files" in error.diag.message_detail + error.diag.message_hint
        assert conn.execute("SELECT to_regclass('pgml.text')").fetchone() == (None,)
    with server.connect() as admin:
        admin.execute("GRANT pg_read_server_files TO %s" % ROLE)
    try:
        with app() as conn:
            rows = conn.execute("SELECT * FROM pgml.load_dataset('text', kwargs => %s)",
                                (json.dumps({"data_files": conf}),)).fetchall()
            assert rows[0][0] == "text" and rows[0][1] > 10
            assert conn.execute("SELECT count(*) FROM pgml.text WHERE text LIKE 'port = %'").fetchone() == (1,)
    finally:
        with server.connect() as admin:
            admin.execute("REVOKE pg_read_server_files FROM %s" % ROLE)


def test_model_folders_named_by_path_need_pg_read_server_files(server, app, lab):
    folder = str(lab["store"] / "t" / "enc")
    classifier = str(lab["store"] / "t" / "cls")
    attacks = [
        ("SELECT pgml.embed(%s, 'a')", (folder,), folder),
        ("SELECT pgml.embed('t/enc', 'a', %s)", (task(model_kwargs={"cache_dir": "/var/tmp"}),), "/var/tmp"),
        ("SELECT pgml.embed('base', 'a')", None, "base"),  # exists relative to the data directory
        ("SELECT * FROM pgml.rank(%s, 'q', ARRAY['a'])", (str(lab["store"] / "t" / "cross"),), "cross"),
        ("SELECT pgml.transform(%s::jsonb, inputs => ARRAY['a'])",
         (task(task="text-classification", model=classifier),), classifier),
        ("SELECT pgml.transform(%s::jsonb, inputs => ARRAY['a'])",
         (task(task="text-classification", model="t/cls", subfolder="../../.."),), "../../.."),
        ("SELECT pgml.transform(%s::jsonb, inputs => ARRAY['a'])",
         (task(task="text-classification", model="t/cls", tokenizer=folder),), folder),
        ("SELECT * FROM pgml.tune('secin_paths', task => 'text-classification', relation_name => 'public.secin_rows', "
         "model_name => %s)", (classifier,), classifier),
    ]
    with app() as conn:
        for query, params, path in attacks:
            error = attempt(conn, query, params)
            assert error is not None and error.sqlstate == "42501", (query, error)
            assert path in error.diag.message_primary and "pg_read_server_files" in error.diag.message_hint
        # by its name in the model store it is everyone's
        assert len(conn.execute("SELECT pgml.embed('t/enc', 'a')").fetchone()[0]) == 32
    with server.connect() as admin:
        admin.execute("GRANT pg_read_server_files TO %s" % ROLE)
    try:
        with app() as conn:
            assert len(conn.execute("SELECT pgml.embed(%s, 'a')", (folder,)).fetchone()[0]) == 32
    finally:
        with server.connect() as admin:
            admin.execute("REVOKE pg_read_server_files FROM %s" % ROLE)


# ---- 4. inputs that would never end ------------------------------------------------------

CATASTROPHIC = '{"separators": ["(a|aa)+$"], "is_separator_regex": true}'
WARM_UP = "SELECT * FROM pgml.chunk('recursive_character', 'a b', '{\"is_separator_regex\": true}')"
SPLITTERS = {"character": "CharacterTextSplitter", "markdown": "MarkdownTextSplitter",
             "python": "PythonCodeTextSplitter", "recursive_character": "RecursiveCharacterTextSplitter"}


def test_the_issue_regex_finishes_at_once(app):
    with app() as conn:
        conn.execute(WARM_UP)
        started = time.monotonic()
        rows = conn.execute("SELECT * FROM pgml.chunk('recursive_character', repeat('a', 40) || 'b', "
                            "'{\"separators\": [\"(a+)+$\"], \"is_separator_regex\": true}')").fetchall()
        assert rows == [(1, "a" * 40 + "b")]
        assert_stopped_promptly(started, what="a regex that must not backtrack")


def test_a_backtracking_separator_stops_on_statement_timeout_and_by_itself(app):
    with app() as conn:
        conn.execute(WARM_UP)  # the first call of a connection imports LangChain
        conn.execute("SET statement_timeout = '500ms'")
        started = time.monotonic()
        with pytest.raises(psycopg.errors.QueryCanceled):
            conn.execute("SELECT * FROM pgml.chunk('recursive_character', repeat('a', 40) || 'b', %s)", (CATASTROPHIC,))
        assert_stopped_promptly(started)
        conn.execute("RESET statement_timeout")
        started = time.monotonic()
        error = attempt(conn, "SELECT * FROM pgml.chunk('recursive_character', repeat('a', 40) || 'b', %s)", (CATASTROPHIC,))
        assert error.sqlstate == "54001" and error.diag.message_hint
        assert_stopped_promptly(started, what="the time-limited regex")


def test_a_backtracking_separator_stops_on_pg_terminate_backend(server, app):
    with app() as conn, server.connect() as admin:
        pid = conn.execute("SELECT pg_backend_pid()").fetchone()[0]
        conn.execute(WARM_UP)
        timer = threading.Timer(0.3, lambda: admin.execute("SELECT pg_terminate_backend(%s)", (pid,)))
        timer.start()
        started = time.monotonic()
        with pytest.raises(psycopg.OperationalError):
            conn.execute("SELECT * FROM pgml.chunk('recursive_character', repeat('a', 40) || 'b', %s)", (CATASTROPHIC,))
        timer.join()
        assert_stopped_promptly(started)


@pytest.mark.parametrize("splitter,kwargs", [
    ("recursive_character", {"separators": ["\\n\\n+", "[.!?] ", "\\s+"], "is_separator_regex": True,
                             "chunk_size": 40, "chunk_overlap": 0}),
    ("character", {"separator": "(?<=\\.) ", "is_separator_regex": True, "chunk_size": 30, "chunk_overlap": 0}),
    ("character", {"separator": "\\s", "is_separator_regex": True, "chunk_size": 20, "chunk_overlap": 5}),
    ("markdown", {"chunk_size": 40, "chunk_overlap": 0}),
    ("python", {"chunk_size": 40, "chunk_overlap": 0}),
])
def test_regex_separators_split_as_langchain_does(app, splitter, kwargs):
    """The time-limited engine gives LangChain's own splits (lookarounds and Unicode classes too)."""
    import langchain_text_splitters
    text = ("# Title\n\nFirst sentence. Second one! A third?\u00a0Non-breaking.\n\n\n"
            "def f():\n    return 1\n\nclass C:\n    pass\n" * 3)
    expected = getattr(langchain_text_splitters, SPLITTERS[splitter])(**kwargs).split_text(text)  # with `re`
    with app() as conn:
        rows = conn.execute("SELECT chunk FROM pgml.chunk(%s, %s, %s) ORDER BY chunk_index",
                            (splitter, text, json.dumps(kwargs))).fetchall()
    assert [r[0] for r in rows] == expected


@pytest.fixture(scope="module")
def online(server):
    """A superuser connection with pgml.huggingface_offline off, MiniLM loaded (torch imported)."""
    with server.connect() as conn:
        environ = conn.execute("SELECT pg_read_binary_file('/proc/' || pg_backend_pid() || '/environ')").fetchone()[0]
        if b"HF_HUB_OFFLINE=1" in bytes(environ).split(b"\0"):
            pytest.skip("the server inherited HF_HUB_OFFLINE=1, so huggingface_hub never tries the network")
        conn.execute("SET pgml.huggingface_offline = off")
        conn.execute("SELECT pgml.embed(%s, 'warm up')", (MINILM,))
        yield conn


@pytest.mark.parametrize("query,params", [
    ("SELECT pgml.embed('hub-org/not-anywhere', 'a')", None),
    ("SELECT pgml.transform(%s::jsonb, inputs => ARRAY['a'])", (task(task="text-classification", model="hub-org/none"),)),
])
def test_hub_retries_stop_on_statement_timeout(online, query, params):
    """pgml.huggingface_offline off on a server that cannot reach the hub: huggingface_hub retries
    each file for 23 s; a 1 s statement_timeout still ends the call in about 1 s."""
    online.execute("SET statement_timeout = '1s'")
    started = time.monotonic()
    error = attempt(online, query, params)
    elapsed = time.monotonic() - started
    online.execute("RESET statement_timeout")
    # 57014 here; where the hub answers, the model is simply not found (42704), also at once
    assert error.sqlstate in ("57014", "42704"), error
    assert elapsed - 1 < STOPPED_PROMPTLY, elapsed  # uncancelled: 23 s of retries


def test_hub_retries_stop_on_pg_cancel_backend(server, online):
    pid = online.execute("SELECT pg_backend_pid()").fetchone()[0]
    with server.connect() as admin:
        timer = threading.Timer(1.0, lambda: admin.execute("SELECT pg_cancel_backend(%s)", (pid,)))
        timer.start()
        started = time.monotonic()
        error = attempt(online, "SELECT * FROM pgml.rank('hub-org/cross', 'q', ARRAY['a'])")
        timer.join()
    assert error.sqlstate in ("57014", "42704"), error
    assert_stopped_promptly(started, after=1)


# ---- 5. the minor cases ------------------------------------------------------------------

@pytest.mark.parametrize("query,params,sqlstate,text", [
    ("SELECT * FROM pgml.train('secin_inf', 'regression', 'public.secin_rows', 'y', test_size => 'Infinity')",
     None, "22023", "test_size"),
    ("SELECT * FROM pgml.train('secin_inf', 'regression', 'public.secin_rows', 'y', test_size => 'NaN')",
     None, "22023", "test_size"),
    ("SELECT pgml.transform(%s::jsonb, '{\"num_beams\": 0}', ARRAY['a'])",
     (task(task="text-generation", model="t/gpt2"),), "22023", "num_beams"),
    ("SELECT pgml.transform(%s::jsonb, '{\"num_return_sequences\": -1}', ARRAY['a'])",
     (task(task="summarization", model="t/t5"),), "22023", "num_return_sequences"),
    ("SELECT pgml.embed(%s, 'a', '{\"truncate_dim\": -1}')", (MINILM,), "22023", "truncate_dim"),
    ("SELECT pgml.embed(%s, 'a', '{\"truncate_dim\": 0}')", (MINILM,), "22023", "truncate_dim"),
    ("SELECT * FROM pgml.chunk('recursive_character', 'abc', '{\"separators\": [\"(\"], \"is_separator_regex\": true}')",
     None, "2201B", "not a valid regular expression"),
    ("SELECT * FROM pgml.chunk('character', 'abc', '{\"separator\": \"[a-\", \"is_separator_regex\": true}')",
     None, "2201B", "not a valid regular expression"),
])
def test_minor_cases_have_their_sqlstate_and_a_hint(app_conn, query, params, sqlstate, text):
    error = attempt(app_conn, query, params)
    assert error is not None and error.sqlstate == sqlstate, error
    assert text in error.diag.message_primary and error.diag.message_hint
    assert "this is a bug" not in error.diag.message_hint.lower()


def test_truncate_dim_still_truncates(app_conn):
    assert len(app_conn.execute("SELECT pgml.embed(%s, 'a', '{\"truncate_dim\": 64}')", (MINILM,)).fetchone()[0]) == 64


# ---- stored values never enable code -----------------------------------------------------

@pytest.fixture(scope="module")
def tuned(server, app):
    """A LoRA classifier that ROLE tuned from t/cls, deployed in its project secin_tuned:
    (model id, its files)."""
    with app() as c:
        c.execute("""SELECT * FROM pgml.tune('secin_tuned', task => 'text-classification', relation_name => 'public.secin_rows',
                     model_name => 't/cls', test_size => 0.25, test_sampling => 'last',
                     hyperparams => '{"training_args": {"num_train_epochs": 1, "per_device_train_batch_size": 8}}')""")
        model_id = c.execute("SELECT m.id FROM pgml.models m JOIN pgml.projects p ON p.id = m.project_id "
                             "WHERE p.name = 'secin_tuned' ORDER BY m.id DESC LIMIT 1").fetchone()[0]
        files = {}
        for path, data in c.execute("SELECT path, data FROM pgml.files WHERE model_id = %s ORDER BY path, part",
                                    (model_id,)):
            files[path] = files.get(path, b"") + bytes(data)
    yield model_id, files


def replace_file(server, app, model_id, path, data):
    """Replaces a file of ROLE's model by one part. ROLE itself may not (1.3: only pgml's writers
    write pgml.files); a superuser may, with the digest the load checks, which is how a bad file
    could still arrive (a restore, a DBA's hand): what pgml loads from it must stay data."""
    with app() as role:
        denied = attempt(role, "DELETE FROM pgml.files WHERE model_id = %d" % model_id)
        assert denied.sqlstate == "42501", denied
    with server.connect() as admin:
        admin.execute("DELETE FROM pgml.files WHERE model_id = %s AND path = %s", (model_id, path))
        admin.execute("INSERT INTO pgml.files (model_id, path, part, data, digest) "
                      "VALUES (%s, %s, 0, %s, sha256(%s))", (model_id, path, data, data))


def test_a_stored_trust_flag_or_base_model_runs_no_code(server, app, admin_store, tuned, markers):
    """The escalation of the issue: ROLE repoints its own model's pgml_tune.json at a code folder
    with trust_remote_code in the load args. A superuser's predict of that project must not run
    the code, even with pgml.huggingface_trust_remote_code on and an empty whitelist ("all")."""
    model_id, files = tuned
    meta = json.loads(files["pgml_tune.json"])
    meta.update(base_model=CUSTOM, load={"tokenizer_args": {"trust_remote_code": True},
                                         "config_kwargs": {"trust_remote_code": True}})
    replace_file(server, app, model_id, "pgml_tune.json", json.dumps(meta).encode())
    try:
        conn = admin_store
        conn.execute("SET pgml.huggingface_trust_remote_code = on")
        error = attempt(conn, "SELECT pgml.predict('secin_tuned', 'the cat is good'::text)")
        assert error.sqlstate == "42501" and "needs to run its own Python code" in error.diag.message_primary
        assert list(markers.iterdir()) == []
        assert_timeouts_work(server, conn)
    finally:
        replace_file(server, app, model_id, "pgml_tune.json", files["pgml_tune.json"])


def test_a_pickle_in_place_of_tuned_weights_is_data_corrupted(server, app, tuned):
    model_id, files = tuned
    weights = next(path for path in files if path.endswith(".safetensors"))
    replace_file(server, app, model_id, weights, pickle.dumps({"weight": [1.0, 2.0]}))
    try:
        with app() as conn:
            for query in ("SELECT pgml.predict('secin_tuned', 'the cat is good'::text)",
                          "SELECT pgml.transform('{\"task\": \"text-classification\", \"project\": \"secin_tuned\"}'::jsonb, "
                          "inputs => ARRAY['a'])"):
                error = attempt(conn, query)
                assert error.sqlstate == "XX001" and error.diag.message_hint, error
    finally:
        replace_file(server, app, model_id, weights, files[weights])
    with app() as conn:  # the original files restore
        assert conn.execute("SELECT pgml.predict('secin_tuned', 'the cat is good'::text)").fetchone()[0] in (0.0, 1.0)

