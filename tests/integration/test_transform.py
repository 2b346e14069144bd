"""pgml.transform and transform_stream on tiny real models from a temporary model store; each
task's output is compared with the same tiny model run in this process (transformers'
pipeline(), or generate() for the seq2seq tasks transformers 5 has no pipeline for)."""
import functools
import json
import threading
import time

import psycopg
import pytest

from fixtures import tiny_models, tiny_pipelines as tiny
from tests.conftest import assert_stopped_promptly


@pytest.fixture(scope="module")
def store(public_dir):
    root = public_dir / "transform-store"
    tiny.text_classifier(root / "t" / "cls")
    tiny.nli_classifier(root / "t" / "nli")
    tiny.token_classifier(root / "t" / "ner")
    tiny.masked_lm(root / "t" / "mlm")
    tiny.gpt2(root / "t" / "gpt2")
    tiny_models.t5_seq2seq(root / "t" / "t5")
    tiny_models.bert_question_answering(root / "t" / "qa")
    root.chmod(0o755)
    (root / "t").chmod(0o755)
    return root


@pytest.fixture(scope="module")
def tconn(server, store):
    with server.connect() as c:
        c.execute("SET pgml.model_store = %s" % psycopg.sql.quote(str(store)))
        yield c


@functools.lru_cache(maxsize=None)
def local(task, path):
    """transformers' pipeline() on the model the server loads, on the CPU, in this process."""
    from transformers import pipeline
    return pipeline(task, model=str(path), device="cpu")


def plain(value):
    """A pipeline's output as JSON carries it (numpy and torch numbers as Python numbers)."""
    return json.loads(json.dumps(value, default=lambda o: o.tolist() if hasattr(o, "tolist") else o.item()))


def assert_close(got, expected, path="output"):
    """Equal structure and strings; numbers equal within float32 rounding."""
    if isinstance(expected, dict):
        assert isinstance(got, dict) and set(got) == set(expected), (path, got, expected)
        for key in expected:
            assert_close(got[key], expected[key], "%s.%s" % (path, key))
    elif isinstance(expected, list):
        assert isinstance(got, list) and len(got) == len(expected), (path, got, expected)
        for i, (g, e) in enumerate(zip(got, expected)):
            assert_close(g, e, "%s[%d]" % (path, i))
    elif isinstance(expected, float):
        assert got == pytest.approx(expected, rel=1e-4, abs=1e-6), (path, got, expected)
    else:
        assert got == expected, (path, got, expected)


def transform(conn, task, args, inputs):
    return conn.execute("SELECT pgml.transform(task => %s::jsonb, args => %s::jsonb, inputs => %s::text[])",
                        (json.dumps(task), json.dumps(args), inputs)).fetchone()[0]


def test_text_classification(tconn, store):
    out = transform(tconn, {"task": "text-classification", "model": "t/cls"}, {}, ["good data", "bad cat"])
    assert len(out) == 2
    assert_close(out, plain(local("text-classification", store / "t" / "cls")(["good data", "bad cat"],
                                                                                truncation=True)))
    assert all(set(r) == {"label", "score"} and r["label"] in ("NEGATIVE", "POSITIVE") and 0 < r["score"] <= 1
               for r in out)
    again = transform(tconn, {"task": "sentiment-analysis", "model": "t/cls"}, {}, ["good data", "bad cat"])
    assert again == out


def test_text_task_name_and_json_text_task(tconn):
    tconn.execute("SET pgml.huggingface_whitelist = ''")
    by_json_text = tconn.execute(
        """SELECT pgml.transform('{"task": "text-classification", "model": "t/cls"}', inputs => ARRAY['good data'])"""
    ).fetchone()[0]
    assert by_json_text[0]["label"] in ("NEGATIVE", "POSITIVE")


def test_token_classification(tconn, store):
    out = transform(tconn, {"task": "ner", "model": "t/ner"}, {}, ["hello paris", "the dog"])
    assert_close(out, plain(local("ner", store / "t" / "ner")(["hello paris", "the dog"])))
    assert len(out) == 2 and all(isinstance(entities, list) for entities in out)
    for entity in out[0]:
        assert {"entity", "score", "index", "word", "start", "end"} <= set(entity)


def test_zero_shot(tconn, store):
    out = transform(tconn, {"task": "zero-shot-classification", "model": "t/nli"},
                    {"candidate_labels": ["database", "animal"]}, ["postgres is a database"])
    assert_close(out, plain(local("zero-shot-classification", store / "t" / "nli")(
        ["postgres is a database"], candidate_labels=["database", "animal"])))
    assert out[0]["sequence"] == "postgres is a database"
    assert sorted(out[0]["labels"]) == ["animal", "database"]
    assert sum(out[0]["scores"]) == pytest.approx(1.0, abs=1e-4)


def test_fill_mask_one_and_many(tconn, store):
    one = transform(tconn, {"task": "fill-mask", "model": "t/mlm"}, {"top_k": 3}, ["hello [MASK] world"])
    assert len(one) == 3 and {"score", "token", "token_str", "sequence"} <= set(one[0])
    many = transform(tconn, {"task": "fill-mask", "model": "t/mlm"}, {"top_k": 2}, ["a [MASK]", "the [MASK] cat"])
    assert len(many) == 2 and all(len(r) == 2 for r in many)
    pipe = local("fill-mask", store / "t" / "mlm")
    assert_close(one, plain(pipe("hello [MASK] world", top_k=3)))
    assert_close(many, plain(pipe(["a [MASK]", "the [MASK] cat"], top_k=2)))


def test_text_generation_is_deterministic_with_greedy_decoding(tconn, store):
    args = {"max_new_tokens": 6, "do_sample": False}
    out = transform(tconn, {"task": "text-generation", "model": "t/gpt2"}, args, ["hello world", "the cat"])
    assert_close(out, plain(local("text-generation", store / "t" / "gpt2")(["hello world", "the cat"], **args)))
    assert len(out) == 2 and out[0][0]["generated_text"].startswith("hello world")
    assert transform(tconn, {"task": "text-generation", "model": "t/gpt2"}, args, ["hello world", "the cat"]) == out


def seq2seq_reference(path, task, texts, args):
    """What transformers 4's summarization/translation/text2text pipelines gave: the task's
    prefix and generation defaults (the config's task_specific_params; T5's English prompt for
    translation), a padded batch, generate(), decoded without special tokens."""
    import torch
    from transformers import AutoModelForSeq2SeqLM, AutoTokenizer
    tokenizer, model = AutoTokenizer.from_pretrained(str(path)), AutoModelForSeq2SeqLM.from_pretrained(str(path))
    name = "translation_en_to_fr" if task.startswith("translation") else task.replace("-generation", "")
    params = dict((getattr(model.config, "task_specific_params", None) or {}).get(name) or {})
    prefix = params.pop("prefix", getattr(model.config, "prefix", None))
    if prefix is None and name == "translation_en_to_fr":
        prefix = "translate English to French: "
    encoded = tokenizer([(prefix or "") + t for t in texts], padding=True, truncation=True, return_tensors="pt")
    encoded.pop("token_type_ids", None)
    with torch.inference_mode():
        ids = model.generate(**encoded, **dict(params, **args))   # the task's defaults, then args
    key = {"summarization": "summary_text", "translation_en_to_fr": "translation_text"}.get(name, "generated_text")
    return [{key: tokenizer.decode(i, skip_special_tokens=True, clean_up_tokenization_spaces=False)} for i in ids]


@pytest.mark.parametrize("task,key", [("summarization", "summary_text"), ("translation_en_to_fr", "translation_text"),
                                      ("text2text-generation", "generated_text"), ("text2text", "generated_text")])
def test_seq2seq_tasks(tconn, store, task, key):
    args = {"max_new_tokens": 5, "do_sample": False}
    out = transform(tconn, {"task": task, "model": "t/t5"}, args, ["hello world", "the cat is good"])
    assert out == seq2seq_reference(store / "t" / "t5", task, ["hello world", "the cat is good"], args)
    assert len(out) == 2 and all(set(r) == {key} and isinstance(r[key], str) for r in out)
    assert transform(tconn, {"task": task, "model": "t/t5"}, args, ["hello world", "the cat is good"]) == out


def test_question_answering_one_and_many(tconn):
    qa = {"question": "where is paris", "context": "paris is in france and the cat is good"}
    one = transform(tconn, {"task": "question-answering", "model": "t/qa"}, {}, [json.dumps(qa)])
    assert set(one) == {"answer", "score", "start", "end"}
    assert qa["context"][one["start"]:one["end"]] == one["answer"] and 0 < one["score"] <= 1
    many = transform(tconn, {"task": "question-answering", "model": "t/qa"}, {}, [json.dumps(qa)] * 2)
    assert isinstance(many, list) and many == [one, one]


def test_task_object_options(tconn, expect_error):
    base = {"task": "text-classification", "model": "t/cls"}
    as_float32 = transform(tconn, dict(base, torch_dtype="float32", revision="main"), {}, ["good data"])
    assert as_float32 == transform(tconn, base, {}, ["good data"])
    error = expect_error(tconn, "SELECT pgml.transform(%s::jsonb, inputs => ARRAY['x'])",
                         (json.dumps(dict(base, torch_dtype="float99")),))
    assert error.sqlstate == "22023" and "torch_dtype" in error.diag.message_primary


def test_no_model_offline_says_which_model_to_pass(tconn, expect_error):
    error = expect_error(tconn, "SELECT pgml.transform('summarization', inputs => ARRAY['x'])")
    assert error.sqlstate == "22023" and "has no model" in error.diag.message_primary
    assert '"model"' in error.diag.message_hint


def test_chat_template_and_eos_token_args(tconn):
    messages = [json.dumps({"role": "user", "content": "hello"})]
    task = json.dumps({"task": "conversational", "model": "t/gpt2"})
    template = "{% for m in messages %}{{ m['content'] }} {% endfor %}"

    def chat(args):
        return tconn.execute("SELECT pgml.transform(%s::jsonb, %s::jsonb, %s::jsonb[])",
                             (task, json.dumps(args), messages)).fetchone()[0][0]
    before = chat(CHAT_ARGS)
    custom = chat(dict(CHAT_ARGS, chat_template=template, eos_token="</s>"))
    assert isinstance(custom, str) and custom.strip() and custom != before
    assert chat(CHAT_ARGS) == before  # the template was for that call only
    streamed = [r[0][0] for r in tconn.execute(
        "SELECT pgml.transform_stream(%s::jsonb, %s::jsonb, %s::jsonb[])",
        (task, json.dumps(dict(CHAT_ARGS, chat_template=template)), messages))]
    assert "".join(streamed).strip() == custom.strip()


def test_feature_extraction(tconn, store):
    out = transform(tconn, {"task": "feature-extraction", "model": "t/cls"}, {}, ["hello world"])
    assert len(out[0][0][0]) == 32
    assert_close(out, plain(local("feature-extraction", store / "t" / "cls")(["hello world"])))


# The tiny chat model's first 7 ids are special tokens, which replies strip.
CHAT_ARGS = {"max_tokens": 8, "min_new_tokens": 8, "do_sample": False, "suppress_tokens": list(range(7)),
             "presence_penalty": 0, "top_p": 1.0}  # as PostgresML's SDK sends them


def test_chat(tconn):
    messages = [json.dumps({"role": "system", "content": "be brief"}), json.dumps({"role": "user", "content": "hello"})]
    out = tconn.execute("SELECT pgml.transform(%s::jsonb, %s::jsonb, %s::jsonb[])",
                        (json.dumps({"task": "conversational", "model": "t/gpt2"}),
                         json.dumps(CHAT_ARGS), messages)).fetchone()[0]
    assert isinstance(out, list) and len(out) == 1 and isinstance(out[0], str) and out[0].strip()
    assert "<|" not in out[0] and "be brief" not in out[0]  # special tokens stripped, prompt not repeated


def test_chat_messages_with_text_generation(tconn):
    """JSONB[] messages with "text-generation": the model's chat template applied as Hugging
    Face's text-generation pipeline does, its output passed on (the messages and the reply);
    the reply is the conversational task's, and transform_stream streams the same text."""
    messages = [json.dumps({"role": "system", "content": "be brief"}), json.dumps({"role": "user", "content": "hello"})]
    sql = "SELECT pgml.transform(%s::jsonb, %s::jsonb, %s::jsonb[])"
    out = tconn.execute(sql, (json.dumps({"task": "text-generation", "model": "t/gpt2"}), json.dumps(CHAT_ARGS),
                              messages)).fetchone()[0]
    generated = out[0]["generated_text"]
    assert [m["role"] for m in generated] == ["system", "user", "assistant"], out
    assert generated[:2] == [json.loads(m) for m in messages]
    conversational = tconn.execute(sql, (json.dumps({"task": "conversational", "model": "t/gpt2"}),
                                         json.dumps(CHAT_ARGS), messages)).fetchone()[0]
    assert generated[2]["content"] == conversational[0] and conversational[0].strip()
    streamed = [r[0][0] for r in tconn.execute(
        "SELECT pgml.transform_stream(%s::jsonb, %s::jsonb, %s::jsonb[])",
        (json.dumps({"task": "text-generation", "model": "t/gpt2"}), json.dumps(CHAT_ARGS), messages))]
    assert "".join(streamed).strip() == conversational[0].strip()


def stream_rows(conn, task, args, prompt):
    return [r[0] for r in conn.execute("SELECT pgml.transform_stream(%s::jsonb, %s::jsonb, %s::text)",
                                       (json.dumps(task), json.dumps(args), prompt))]


def test_stream_concatenates_to_transform(tconn):
    task, args = {"task": "text-generation", "model": "t/gpt2"}, {"max_new_tokens": 12, "do_sample": False}
    rows = stream_rows(tconn, task, args, "hello world")
    assert len(rows) > 1 and all(isinstance(r, list) and len(r) == 1 for r in rows)
    whole = transform(tconn, task, args, ["hello world"])[0][0]["generated_text"]
    assert "".join(r[0] for r in rows).strip() == whole[len("hello world"):].strip()


WATCH_THREADS = """CREATE OR REPLACE FUNCTION pg_temp.watch_threads() RETURNS INT[] AS $$
import torch
from pgml_py import cache
seen = GD.setdefault("threads_seen", [])
for entry in cache.models.entries():
    model = getattr(entry.value, "model", None)
    if isinstance(model, torch.nn.Module) and not getattr(model, "_threads_watched", False):
        model.register_forward_pre_hook(lambda module, args: seen.append(torch.get_num_threads()))
        model._threads_watched = True
counts = sorted(set(seen))
seen.clear()
return counts
$$ LANGUAGE plpython3u"""


@pytest.mark.parametrize("n", [1, 2])
def test_each_call_computes_with_the_thread_count_set_now(server, store, n):
    """pgml.omp_num_threads is read per call by transform and transform_stream as by embed, and
    a feature extraction on a runtime (torch at 1 thread for its pooling) leaves torch's count
    as it was: generation after it in the same backend ran on 1 thread."""
    gpt2, args = {"task": "text-generation", "model": "t/gpt2"}, {"max_new_tokens": 3, "do_sample": False}
    with server.connect() as c:
        c.execute("SET pgml.model_store = %s" % psycopg.sql.quote(str(store)))
        transform(c, gpt2, args, ["hello"])
        c.execute(WATCH_THREADS)
        c.execute("SELECT pg_temp.watch_threads()")
        c.execute("SET pgml.omp_num_threads = %d" % n)
        transform(c, gpt2, args, ["hello"])
        assert c.execute("SELECT pg_temp.watch_threads()").fetchone()[0] == [n]
        stream_rows(c, gpt2, args, "hello")
        assert c.execute("SELECT pg_temp.watch_threads()").fetchone()[0] == [n]
        c.execute("RESET pgml.model_store")  # the packaged MiniLM, measured by make install
        c.execute("SET pgml.embed_backend = auto")
        transform(c, {"task": "feature-extraction", "model": "sentence-transformers/all-MiniLM-L6-v2"}, {}, ["hi"])
        c.execute("SET pgml.model_store = %s" % psycopg.sql.quote(str(store)))
        transform(c, gpt2, args, ["hello"])
        assert c.execute("SELECT pg_temp.watch_threads()").fetchone()[0] == [n]


def test_stream_chat(tconn):
    messages = [json.dumps({"role": "user", "content": "hello"})]
    rows = [r[0] for r in tconn.execute(
        "SELECT pgml.transform_stream(%s::jsonb, %s::jsonb, %s::jsonb[])",
        (json.dumps({"task": "conversational", "model": "t/gpt2"}), json.dumps(CHAT_ARGS), messages))]
    assert rows and all(isinstance(r[0], str) for r in rows)
    whole = tconn.execute("SELECT pgml.transform(%s::jsonb, %s::jsonb, %s::jsonb[])",
                          (json.dumps({"task": "conversational", "model": "t/gpt2"}), json.dumps(CHAT_ARGS),
                           messages)).fetchone()[0]
    assert "".join(r[0] for r in rows).strip() == whole[0].strip()


def test_stream_through_a_cursor_shows_the_first_row_early(server, store):
    with server.connect(autocommit=False) as c:
        c.execute("SET pgml.model_store = %s" % psycopg.sql.quote(str(store)))
        c.execute("DECLARE s CURSOR FOR SELECT pgml.transform_stream(%s::jsonb, %s::jsonb, 'hello')",
                  (json.dumps({"task": "text-generation", "model": "t/gpt2"}),
                   json.dumps({"max_new_tokens": 150, "min_new_tokens": 150, "do_sample": False})))
        first = c.execute("FETCH 1 FROM s").fetchall()
        assert len(first) == 1 and isinstance(first[0][0], list)
        rest = c.execute("FETCH ALL FROM s").fetchall()
        assert len(rest) > 10
        c.execute("CLOSE s")
        c.rollback()


@pytest.mark.parametrize("streaming", [False, True])
def test_statement_timeout_stops_generation(server, store, streaming):
    with server.connect() as c:
        c.execute("SET pgml.model_store = %s" % psycopg.sql.quote(str(store)))
        task = json.dumps({"task": "text-generation", "model": "t/gpt2"})
        c.execute("SELECT pgml.transform(%s::jsonb, '{\"max_new_tokens\": 2}', ARRAY['warm'])", (task,))
        c.execute("SET statement_timeout = '1s'")
        args = json.dumps({"max_new_tokens": 8000, "min_new_tokens": 8000, "do_sample": False})
        query = ("SELECT count(*) FROM pgml.transform_stream(%s::jsonb, %s::jsonb, 'hello')" if streaming
                 else "SELECT pgml.transform(%s::jsonb, %s::jsonb, ARRAY['hello'])")
        started = time.monotonic()
        with pytest.raises(psycopg.errors.QueryCanceled) as cancelled:
            c.execute(query, (task, args))
        assert_stopped_promptly(started, after=1)
        assert cancelled.value.sqlstate == "57014"
        c.execute("RESET statement_timeout")
        assert c.execute("SELECT pgml.transform(%s::jsonb, '{\"max_new_tokens\": 2}', ARRAY['ok'])",
                         (task,)).fetchone()[0]


@pytest.mark.parametrize("streaming", [False, True])
def test_pg_cancel_backend_stops_generation(server, store, streaming):
    with server.connect() as c, server.connect() as admin:
        c.execute("SET pgml.model_store = %s" % psycopg.sql.quote(str(store)))
        pid = c.execute("SELECT pg_backend_pid()").fetchone()[0]
        task = json.dumps({"task": "text-generation", "model": "t/gpt2"})
        c.execute("SELECT pgml.transform(%s::jsonb, '{\"max_new_tokens\": 2}', ARRAY['warm'])", (task,))
        timer = threading.Timer(1.0, lambda: admin.execute("SELECT pg_cancel_backend(%s)", (pid,)))
        timer.start()
        started = time.monotonic()
        long_generation = '{"max_new_tokens": 8000, "min_new_tokens": 8000}'
        query = ("SELECT count(*) FROM pgml.transform_stream(%s::jsonb, %s::jsonb, 'hello')" if streaming
                 else "SELECT pgml.transform(%s::jsonb, %s::jsonb, ARRAY['hello'])")
        with pytest.raises(psycopg.errors.QueryCanceled) as cancelled:
            c.execute(query, (task, long_generation))
        timer.join()
        assert_stopped_promptly(started, after=1)
        assert cancelled.value.sqlstate == "57014"
        assert c.execute("SELECT 1").fetchone() == (1,)


@pytest.mark.parametrize("query,params,sqlstate,text", [
    ("SELECT pgml.transform('no-such-task', inputs => ARRAY['x'])", None, "22023", "unknown task"),
    # (a task object without "task" is inferred from the saved config: see test_compat_examples.py)
    ("SELECT pgml.transform('{\"model\": \"t/not-in-the-store\"}'::jsonb, inputs => ARRAY['x'])", None, "22023",
     "cannot be inferred"),
    ("SELECT pgml.transform('{\"task\": \"text-classification\", \"model\": \"t/missing\"}'::jsonb, inputs => ARRAY['x'])",
     None, "42704", "t/missing"),
    ("SELECT pgml.transform('{\"task\": \"text-classification\", \"model\": \"t/cls\"}'::jsonb, "
     "inputs => ARRAY['{\"role\": \"user\", \"content\": \"hi\"}'::jsonb])", None, "22023",
     "inputs for transform should only be used with a conversational or text-generation task"),
    ("SELECT pgml.transform('{\"task\": \"text-classification\", \"model\": \"t/cls\"}'::jsonb, inputs => ARRAY[]::text[])",
     None, "22023", "inputs must not be empty"),
    ("SELECT pgml.transform('{\"task\": \"question-answering\", \"model\": \"t/cls\"}'::jsonb, inputs => ARRAY['not json'])",
     None, "22023", "question and context"),
    ("SELECT pgml.transform('{\"task\": \"text-generation\", \"model\": \"t/gpt2\"}'::jsonb, '{\"no_such_arg\": 1}', ARRAY['x'])",
     None, "22023", "rejected"),
    ("SELECT pgml.transform('{\"task\": \"text-classification\", \"model\": \"t/cls\", \"trust_remote_code\": true}'::jsonb, "
     "inputs => ARRAY['x'])", None, "42501", "is not trusted to run remote code"),
    ("SELECT pgml.transform('{\"task\": \"text-classification\", \"model\": \"t/cls\", \"load_in_8bit\": true}'::jsonb, "
     "inputs => ARRAY['x'])", None, "58P01", "bitsandbytes"),
    ("SELECT pgml.transform('{\"task\": \"text-generation\", \"model\": \"t/gpt2\"}'::jsonb, "
     "'{\"presence_penalty\": 0.5}', ARRAY['x'])", None, "22023", "presence_penalty is not supported"),
    ("SELECT * FROM pgml.transform_stream('{\"task\": \"text-generation\", \"model\": \"t/gpt2\"}'::jsonb, "
     "'{\"max_new_tokens\": 20, \"min_new_tokens\": 20}', repeat('hello ', 8185))", None, "22023",
     "generation failed"),
    ("SELECT * FROM pgml.transform_stream('{\"task\": \"text-classification\", \"model\": \"t/cls\"}'::jsonb, '{}', 'x')",
     None, "22023", "transform_stream streams text generation"),
])
def test_bad_input(tconn, expect_error, query, params, sqlstate, text):
    error = expect_error(tconn, query, params)
    assert error.sqlstate == sqlstate, str(error)
    # An error after a stream's first row comes as PL/Python's "error fetching next item from
    # iterator", with ours in the detail.
    assert text in error.diag.message_primary + (error.diag.message_detail or "")
    assert error.diag.message_hint


def test_long_input_is_truncated_or_a_clear_error(tconn, expect_error):
    out = transform(tconn, {"task": "text-classification", "model": "t/cls"}, {}, ["hello world " * 2000])
    assert out[0]["label"] in ("NEGATIVE", "POSITIVE")
    error = expect_error(tconn, "SELECT pgml.transform('{\"task\": \"fill-mask\", \"model\": \"t/mlm\"}'::jsonb, "
                                "inputs => ARRAY[repeat('hello ', 3000) || '[MASK]'])")
    assert error.sqlstate == "22023" and "at most 128 tokens" in error.diag.message_detail


def test_cache_false_keeps_nothing(server, store):
    with server.connect() as c:
        c.execute("SET pgml.model_store = %s" % psycopg.sql.quote(str(store)))
        transform(c, {"task": "text-classification", "model": "t/cls", "cache": False}, {}, ["x"])
        assert c.execute("SELECT count(*) FROM pgml.cached_models()").fetchone()[0] == 0
        transform(c, {"task": "text-classification", "model": "t/cls"}, {}, ["x"])
        transform(c, {"task": "text-classification", "model": "t/cls"}, {}, ["y"])
        assert c.execute("SELECT kind, model, hits FROM pgml.cached_models()").fetchall() == [("transform", "t/cls", 1)]
