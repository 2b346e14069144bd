"""pgml.tune / pgml.generate on real tiny models built from configs: a BERT
classifier, a GPT-2 with a chat template, a T5. Training must really learn (loss goes down,
a learnable table reaches high accuracy), and the tuned model is used from SQL afterwards."""
import json
import threading
import time

import psycopg
import pytest

from tests.conftest import assert_cancelled_cleanly, assert_stopped_promptly, catalog_counts, sql_error
from tests.fixtures import tiny_models, tiny_pipelines

CLASSIFY_ARGS = {"num_train_epochs": 10, "learning_rate": 0.05, "per_device_train_batch_size": 8, "logging_steps": 5}


@pytest.fixture(scope="module")
def models(public_dir):
    root = public_dir / "tune-models"
    return {"bert": str(tiny_pipelines.text_classifier(root / "bert")),
            "gpt2": str(tiny_pipelines.gpt2(root / "gpt2")),
            "t5": str(tiny_models.t5_seq2seq(root / "t5", task_specific_params=False))}


@pytest.fixture(scope="module")
def tables(server):
    """Learnable tables: the class is whether the text says "cat"; chat turns; English → French."""
    with server.connect() as c:
        c.execute("""
            DROP TABLE IF EXISTS tune_reviews, tune_pairs, tune_chat, tune_french, tune_empty, tune_nulls;
            CREATE TABLE tune_reviews AS
            SELECT CASE WHEN i % 2 = 0 THEN 'the cat is good ' || w ELSE 'the dog is ' || w END AS text,
                   CASE WHEN i % 2 = 0 THEN 'positive' ELSE 'negative' END AS class
            FROM generate_series(1, 60) i,
                 LATERAL (SELECT (ARRAY['data','model','text','sql','query','vector'])[1 + i % 6] AS w) x;
            CREATE TABLE tune_pairs AS
            SELECT 'the ' || a AS text1, 'the ' || b AS text2, (a = b)::int AS class
            FROM unnest(ARRAY['cat','dog','sql','data']) a, unnest(ARRAY['cat','dog','sql','data']) b,
                 generate_series(1, 4);
            CREATE TABLE tune_chat AS SELECT u AS "user", a AS assistant
            FROM (VALUES ('hello', 'hello world'), ('the cat', 'is good'), ('the dog', 'is bad'),
                         ('sql', 'query data')) v(u, a), generate_series(1, 10);
            CREATE TABLE tune_french AS SELECT t AS english, f AS french
            FROM (VALUES ('translate English to French: the cat', 'le chat'),
                         ('translate English to French: the dog', 'le chien'),
                         ('translate English to French: hello world', 'bonjour monde'),
                         ('translate English to French: the database', 'la base de données')) v(t, f),
                 generate_series(1, 10);
            CREATE TABLE tune_empty (text TEXT, class TEXT);
            CREATE TABLE tune_nulls AS SELECT * FROM tune_reviews UNION ALL SELECT NULL, 'positive';
        """)
    return True


def tune(conn, project, task, relation, model, hyperparams, **kwargs):
    """pgml.tune with test_sampling 'last' by default: the rows keep the table's order, so with
    the Trainer's fixed seed a run is deterministic."""
    kwargs.setdefault("test_sampling", "last")
    extra = "".join(", %s => %%(%s)s" % (k, k) for k in kwargs)
    return conn.execute("SELECT * FROM pgml.tune(%%(project)s, task => %%(task)s, relation_name => %%(relation)s, "
                        "model_name => %%(model)s, hyperparams => %%(hp)s%s)" % extra,
                        dict(project=project, task=task, relation=relation, model=model,
                             hp=json.dumps(hyperparams), **kwargs)).fetchall()


def latest_model(conn, project):
    return conn.execute("""SELECT m.id, m.algorithm, m.runtime::text, m.status, m.hyperparams, m.metrics
                           FROM pgml.models m JOIN pgml.projects p ON p.id = m.project_id
                           WHERE p.name = %s ORDER BY m.id DESC LIMIT 1""", (project,)).fetchone()


def logged_losses(conn, model_id):
    return [r[0] for r in conn.execute("""SELECT (logs->>'loss')::float8 FROM pgml.logs
                                          WHERE model_id = %s AND logs ? 'loss' ORDER BY id""", (model_id,))]


def lowered(losses, factor=1.0):
    """The mean of the last three logged losses is below factor × the mean of the first three."""
    return len(losses) >= 6 and sum(losses[-3:]) < factor * sum(losses[:3])


# ---- text classification -----------------------------------------------------------------

@pytest.fixture(scope="module")
def classifier(server, models, tables):
    with server.connect() as c:
        notices = []
        c.add_notice_handler(lambda d: notices.append(d.message_primary))
        result = tune(c, "tune_sentiment", "text-classification", "tune_reviews", models["bert"],
                      {"training_args": CLASSIFY_ARGS, "token": "hf_secret"})
        return {"result": result, "notices": notices, "model": latest_model(c, "tune_sentiment")}


def test_tune_learns_a_learnable_classification_table(classifier, conn):
    assert classifier["result"] == [("tune_sentiment", "text-classification", "transformers", True)]
    model_id, algorithm, runtime, status, hyperparams, metrics = classifier["model"]
    assert (algorithm, runtime, status) == ("transformers", "python", "successful")
    assert hyperparams["model_name"].endswith("/bert") and hyperparams["project_name"] == "tune_sentiment"
    assert hyperparams["token"] == "(hidden)"  # no hub token in the catalog
    assert metrics["accuracy"] >= 0.9 and metrics["f1"] >= 0.9, metrics  # chance is 0.5
    assert "eval_loss" in metrics and "eval_accuracy" in metrics
    losses = logged_losses(conn, model_id)
    assert lowered(losses, 0.5), losses


def test_tune_reports_steps_with_an_eta_and_logs_each_step(classifier, conn):
    steps = [n for n in classifier["notices"] if n.startswith("step ")]
    assert any(" of 60: loss " in n and "left" in n for n in steps), steps
    rows = conn.execute("SELECT logs FROM pgml.logs WHERE model_id = %s ORDER BY id", (classifier["model"][0],)).fetchall()
    assert {"step", "max_steps", "timestamp"} <= set(rows[0][0]) and rows[0][0]["max_steps"] == 60


def test_tuned_adapter_is_stored_as_safetensors_without_pickle(classifier, conn):
    paths = {r[0] for r in conn.execute("SELECT path FROM pgml.files WHERE model_id = %s", (classifier["model"][0],))}
    assert "adapter_model.safetensors" in paths and "pgml_tune.json" in paths, paths
    assert not any(p.endswith((".bin", ".pt", ".pkl")) for p in paths)


def test_predict_with_the_tuned_classifier_returns_the_class(classifier, conn):
    # Classes sort as negative (0), positive (1); a new connection restores the model from pgml.files.
    got = conn.execute("SELECT pgml.predict('tune_sentiment', 'the cat is good sql'), "
                       "pgml.predict('tune_sentiment', 'the dog is vector'::varchar)").fetchone()
    assert got == (1.0, 0.0)
    cached = conn.execute("SELECT count(*) FROM pgml.cached_models() WHERE kind = 'predict'").fetchone()[0]
    assert cached == 1


def test_transform_runs_a_tuned_project(classifier, conn):
    out = conn.execute("""SELECT pgml.transform(task => '{"task": "text-classification", "project": "tune_sentiment"}'::jsonb,
                                                inputs => ARRAY['the cat is good data', 'the dog is sql'])""").fetchone()[0]
    assert [o["label"] for o in out] == ["positive", "negative"]


def test_array_predict_and_generate_on_a_classifier_say_what_to_call(classifier, conn):
    e = sql_error(conn, "SELECT pgml.predict('tune_sentiment', ARRAY[1.0, 2.0]::real[])")
    assert e.sqlstate == "22023" and "takes text" in str(e)
    e = sql_error(conn, "SELECT pgml.generate('tune_sentiment', 'the cat')")
    assert e.sqlstate == "22023" and "pgml.predict" in e.diag.message_hint


def test_a_tampered_pickle_file_is_refused(classifier, server):
    with server.connect(autocommit=False) as c:
        c.execute("UPDATE pgml.files SET path = 'pytorch_model.bin' WHERE model_id = %s AND path = 'adapter_model.safetensors'",
                  (classifier["model"][0],))
        with pytest.raises(psycopg.Error) as info:
            c.execute("SELECT pgml.predict('tune_sentiment', 'the cat')")
        c.rollback()
    assert info.value.sqlstate == "XX001" and "will not load" in str(info.value)  # data_corrupted


def test_full_fine_tuning_of_a_text_pair_classifier(server, models, tables, conn):
    result = tune(conn, "tune_pairs", "text-pair-classification", "tune_pairs", models["bert"],
                  {"lora": False, "training_args": {"num_train_epochs": 30, "learning_rate": 0.005,
                                                     "per_device_train_batch_size": 8, "logging_steps": 4}})
    assert result == [("tune_pairs", "text-pair-classification", "transformers", True)]
    model_id, *_, metrics = latest_model(conn, "tune_pairs")
    paths = {r[0] for r in conn.execute("SELECT path FROM pgml.files WHERE model_id = %s", (model_id,))}
    assert "model.safetensors" in paths and "adapter_config.json" not in paths
    assert lowered(logged_losses(conn, model_id)), logged_losses(conn, model_id)
    value = conn.execute("SELECT pgml.predict('tune_pairs', ROW('the cat'::text, 'the dog'::text))").fetchone()[0]
    assert value in (0.0, 1.0)  # numeric classes come back as their value


# ---- generation --------------------------------------------------------------------------

def test_conversation_tune_lowers_the_loss_and_generates_replies(server, models, tables, conn):
    result = tune(conn, "tune_chat", "conversation", "tune_chat", models["gpt2"],
                  {"training_args": {"num_train_epochs": 10, "learning_rate": 0.05,
                                     "per_device_train_batch_size": 4, "logging_steps": 5}})
    assert result == [("tune_chat", "conversation", "transformers", True)]
    model_id, *_, metrics = latest_model(conn, "tune_chat")
    assert lowered(logged_losses(conn, model_id)), logged_losses(conn, model_id)
    assert metrics["perplexity"] > 1 and "eval_loss" in metrics
    one, many = conn.execute("""SELECT pgml.generate('tune_chat', 'the cat', '{"max_new_tokens": 4}'),
                                       pgml.generate('tune_chat', ARRAY['hello', 'sql'], '{"max_new_tokens": 4}')""").fetchone()
    assert isinstance(one, str) and isinstance(many, list) and len(many) == 2
    # A second tune is deployed too (the target metric, bleu, counts as 0 for both).
    assert tune(conn, "tune_chat", None, None, None, {"training_args": {"max_steps": 2}})[0][3] is True


def test_translation_tune_learns_and_generates_and_transforms(server, models, tables, conn):
    result = tune(conn, "tune_french", "translation", "tune_french", models["t5"],
                  {"lora": False, "dataset_args": {"text_column": "english"},
                   "training_args": {"num_train_epochs": 30, "learning_rate": 0.01, "per_device_train_batch_size": 8,
                                     "logging_steps": 20}}, y_column_name="french")
    assert result == [("tune_french", "translation", "transformers", True)]
    model_id, *_, metrics = latest_model(conn, "tune_french")
    assert metrics["bleu"] > 50 and metrics["rouge_ngram_f1"] > 0.5, metrics
    assert lowered(logged_losses(conn, model_id), 0.5), logged_losses(conn, model_id)
    assert conn.execute("SELECT pgml.generate('tune_french', 'translate English to French: the cat')").fetchone()[0] == "le chat"
    out = conn.execute("""SELECT pgml.transform(task => '{"task": "translation", "project": "tune_french"}'::jsonb,
                                                inputs => ARRAY['translate English to French: the dog'])""").fetchone()[0]
    assert out == [{"translation_text": "le chien"}]


def test_lora_on_a_seq2seq_model_stores_an_adapter(server, models, tables, conn):
    tune(conn, "tune_summaries", "summarization", "tune_french", models["t5"],
         {"dataset_args": {"text_column": "english", "target_column": "french"},
          "training_args": {"max_steps": 3}})
    model_id = latest_model(conn, "tune_summaries")[0]
    paths = {r[0] for r in conn.execute("SELECT path FROM pgml.files WHERE model_id = %s", (model_id,))}
    assert "adapter_model.safetensors" in paths
    assert isinstance(conn.execute("SELECT pgml.generate('tune_summaries', 'the cat', '{\"max_new_tokens\": 3}')").fetchone()[0], str)


# ---- bad input: clear ERROR, hint, SQLSTATE, catalog unchanged -----------------------------

BAD_CALLS = [
    ("unknown task", dict(task="text-generation"), "22023", "does not support the task"),
    ("missing text column", dict(hyperparams={"dataset_args": {"text_column": "body"}}), "42703", 'column "body"'),
    ("unknown dataset_args key", dict(hyperparams={"dataset_args": {"txt_column": "text"}}), "22023", "txt_column"),
    ("NULL texts", dict(relation="tune_nulls"), "22004", "NULL values"),
    ("empty table", dict(relation="tune_empty"), "22000", "no rows"),
    ("training_args rejected", dict(hyperparams={"training_args": {"num_train_epoch": 1}}), "22023", "num_train_epoch"),
    ("bad training_args value", dict(hyperparams={"training_args": {"lr_scheduler_type": "sideways"}}), "22023",
     "sideways"),
    ("LoRA modules not in the model", dict(hyperparams={"lora_config": {"target_modules": ["q_proj"]}}), "22023",
     "lora_config does not fit"),
    ("unknown hyperparams key", dict(hyperparams={"epochs": 3}), "22023", "epochs"),
    ("model not in the store offline", dict(model="nobody/no-such-model"), "42704", "not in the model store"),
]


@pytest.mark.parametrize("name,change,sqlstate,text", BAD_CALLS, ids=[c[0] for c in BAD_CALLS])
def test_bad_tune_calls_fail_clearly_and_leave_the_catalog(name, change, sqlstate, text, server, models, tables, conn):
    conn.execute("SET pgml.huggingface_offline = on")
    call = dict(task="text-classification", relation="tune_reviews", model=models["bert"],
                hyperparams={"training_args": {"max_steps": 1}})
    call.update(change)
    before = catalog_counts(conn)
    e = sql_error(conn, "SELECT * FROM pgml.tune('tune_bad', task => %s, relation_name => %s, model_name => %s, "
                        "hyperparams => %s)", (call["task"], call["relation"], call["model"], json.dumps(call["hyperparams"])))
    assert e.sqlstate == sqlstate, (e.sqlstate, str(e))
    assert text in str(e) and e.diag.message_hint, str(e)
    assert "Traceback" not in e.diag.message_primary
    assert catalog_counts(conn) == before


def test_tune_on_a_train_project_is_refused(server, models, tables, conn):
    conn.execute("SELECT * FROM pgml.load_dataset('iris')")
    conn.execute("SELECT * FROM pgml.train('tune_tabular', 'classification', 'pgml.iris', 'target')")
    e = sql_error(conn, "SELECT * FROM pgml.tune('tune_tabular', model_name => %s, relation_name => 'tune_reviews')",
                  (models["bert"],))
    assert e.sqlstate == "22023" and "does not support the task" in str(e)
    e = sql_error(conn, "SELECT pgml.generate('tune_tabular', 'x')")
    assert e.sqlstate == "22023" and "not a tuned text model" in str(e)


# ---- progress and cancel -----------------------------------------------------------------

def test_pg_stat_activity_shows_tune_steps_and_pg_cancel_backend_stops_it(server, models, tables):
    with server.connect() as c, server.connect() as watcher:
        pid = c.execute("SELECT pg_backend_pid()").fetchone()[0]
        before = catalog_counts(c)
        outcome = []

        def run():
            try:
                tune(c, "tune_cancel", "text-classification", "tune_reviews", models["bert"],
                     {"training_args": {"num_train_epochs": 5000, "logging_steps": 20}})
                outcome.append("finished")
            except psycopg.errors.QueryCanceled:
                outcome.append("cancelled")
        thread = threading.Thread(target=run)
        thread.start()
        seen = None
        for _ in range(600):
            name = watcher.execute("SELECT application_name FROM pg_stat_activity WHERE pid = %s", (pid,)).fetchone()[0]
            if name.startswith("pgml.tune: step"):
                seen = name
                break
            time.sleep(0.05)
        started = time.monotonic()
        watcher.execute("SELECT pg_cancel_backend(%s)", (pid,))
        thread.join(120)
        assert seen and " of " in seen, seen
        assert outcome == ["cancelled"]
        assert_stopped_promptly(started)
        assert c.execute("SELECT 1").fetchone() == (1,)
        assert catalog_counts(c) == before


def test_statement_timeout_stops_a_tune(server, models, tables, conn):
    # The first tune in a backend imports torch, transformers and peft (seconds, more on a busy
    # machine), and a cancel arriving during an import acts right after it: import them first,
    # so the bound below measures how promptly a running tune stops.
    conn.execute("BEGIN")
    tune(conn, "tune_timeout_warmup", "text-classification", "tune_reviews", models["bert"],
         {"training_args": {"max_steps": 1}})
    conn.execute("ROLLBACK")
    before = catalog_counts(conn)
    conn.execute("SET statement_timeout = '3s'")
    started = time.monotonic()
    with pytest.raises(psycopg.errors.QueryCanceled) as cancelled:
        tune(conn, "tune_timeout", "text-classification", "tune_reviews", models["bert"],
             {"training_args": {"num_train_epochs": 5000}})
    assert_stopped_promptly(started, after=3)
    assert_cancelled_cleanly(conn, cancelled.value, before)
