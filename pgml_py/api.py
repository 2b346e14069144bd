"""Entry points, one per SQL function: the shims in the pgml--*.sql scripts (sql/) call these
by name.

Each checks its arguments, calls the core and shapes the result for SQL. The @entry wrapper
turns PgmlError into a PostgreSQL ERROR with SQLSTATE, detail and hint, so no client sees a
bare Python traceback. Bad input is refused where the arguments are checked, with an errors.*
class (a library's ValueError on the user's options is converted at that call); any other
exception is pgml's bug or a library's, reported as XX000 with its type.
"""
import functools
import json

from . import db, errors, settings as settings_module

_JSON_TYPES = {list: "array", str: "string", int: "number", float: "number", bool: "boolean"}


def current_settings():
    return settings_module.read(db)


def reported(error, function):
    """The PgmlError that `error`, raised by pgml's function `function`, is reported as; None
    lets it pass through as it is (plpy's own errors: a cancel, SPI errors that need no pgml
    words). User input is refused at its checks with errors.* classes, so anything else is a
    bug in pgml or a library: reported with its type, as an internal error."""
    if isinstance(error, errors.PgmlError):
        return error
    if isinstance(error, db.database_errors()):
        return db.user_facing(error, function)  # permissions, read-only: pgml's message and a hint
    if isinstance(error, MemoryError):
        return errors.OutOfMemory("%s ran out of memory" % function, hint="Use smaller batches or a smaller model.")
    return errors.PgmlError("%s failed: %s: %s" % (function, type(error).__name__, error),
                            hint="This is a bug in pgml or a library it uses; please report it.")


# Entry points whose SQL function has another name (pgml.deploy(model_id) is deploy_model).
SQL_NAMES = {"deploy_model": "deploy"}


def entry(fn):
    """Reports errors the SQL way (see reported); a cancel raised inside library code (wrapped
    as errors.Interrupted to get past their except clauses) is re-raised as the server's."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except errors.Interrupted as e:
            raise e.error from None
        except Exception as e:
            error = reported(e, SQL_NAMES.get(fn.__name__, fn.__name__))
            if error is None:
                raise
            db.report(error)
    return wrapper


@entry
def startup(model_store_default):
    """Runs once per backend from pgml_bootstrap.boot(), before any heavy import."""
    settings_module.install_defaults["pgml.model_store"] = model_store_default
    db.define_settings(settings_module.definitions())
    from . import interrupts
    from .hf import hub
    hub.configure_environment(current_settings())
    interrupts.check = db.check_for_interrupts


def parse_kwargs(kwargs, name="kwargs"):
    """A JSONB argument (text in PL/Python) that must be a JSON object. SQL NULL (possible in
    the non-STRICT functions) means not given; JSON null is an error."""
    if kwargs is None:
        return {}
    value = json.loads(kwargs) if isinstance(kwargs, str) else kwargs
    if not isinstance(value, dict):
        raise errors.bad_argument(name, "a JSON object", "a JSON %s" % _JSON_TYPES.get(type(value), "null"))
    return value


# ---- embeddings and chunking -------------------------------------------------------------

@entry
def embed(transformer, text, kwargs):
    from .hf import embed as core
    return real_array_literals(core.embed(transformer, [text], parse_kwargs(kwargs), current_settings(), db))[0]


@entry
def embed_batch(transformer, inputs, kwargs):
    from .hf import embed as core
    if not inputs:
        return []
    return real_array_literals(core.embed(transformer, list(inputs), parse_kwargs(kwargs), current_settings(), db))


@entry
def embed_choices():
    """pgml.embed_choices: what embed_backend = auto chose for each measured model (embed's and
    rank's), and why."""
    from .hf import backends, rank_backends
    settings = current_settings()
    return backends.choices(settings.model_store, settings.embed_min_cosine) + rank_backends.choices()


def real_array_literals(vectors):
    """Each row as REAL[] text. 9 significant digits give back the same float32."""
    if len(vectors) == 0:
        return []
    row_format = "{" + ",".join(["%.9g"] * vectors.shape[1]) + "}"
    return [row_format % tuple(row) for row in vectors.tolist()]


@entry
def chunk(splitter, text, kwargs):
    from .hf import chunk as core
    return core.chunk(splitter, text, parse_kwargs(kwargs), check_for_interrupts=db.check_for_interrupts)


# ---- transform ---------------------------------------------------------------------------

def generation_call(task, args, task_is_json):
    """The keyword arguments every transform/transform_stream overload passes to the core."""
    return dict(task=json.loads(task) if task_is_json else task, args=parse_kwargs(args, "args"),
                settings=current_settings(), check_for_interrupts=db.check_for_interrupts, db=db)


@entry
def transform(task, args, inputs, task_is_json):
    from .hf import transform as core
    return core.run(inputs=list(inputs), **generation_call(task, args, task_is_json))


@entry
def transform_chat(task, args, inputs, task_is_json):
    from .hf import transform as core
    return core.run(chat_inputs=list(inputs), **generation_call(task, args, task_is_json))


@entry
def transform_bytes(task, args, inputs, task_is_json):
    from .hf import transform as core
    return core.run(byte_inputs=list(inputs), **generation_call(task, args, task_is_json))


@entry
def transform_stream(task, args, input, task_is_json):
    from .hf import stream as core
    return entry_iterator(core.stream(text_input=input, **generation_call(task, args, task_is_json)))


@entry
def transform_stream_chat(task, args, inputs, task_is_json):
    from .hf import stream as core
    return entry_iterator(core.stream(chat_inputs=list(inputs), **generation_call(task, args, task_is_json)))


def entry_iterator(rows):
    """A set-returning result: errors raised while PostgreSQL fetches rows are reported the
    same way as in @entry. The first row is computed now, so argument errors come at once."""
    rows = iter(rows)

    @entry
    def transform_stream_row():
        return next(rows, None)

    def each(row):
        while row is not None:
            yield row
            row = transform_stream_row()
    return each(transform_stream_row())


@entry
def rank(transformer, query, documents, kwargs):
    from .hf import rank as core
    return core.rank(transformer, query, documents, parse_kwargs(kwargs), current_settings(), db)


@entry
def clear_gpu_cache(memory_usage):
    import torch
    from . import cache
    if not torch.cuda.is_available():
        raise errors.FeatureNotSupported("No GPU available", hint="pgml.clear_gpu_cache() needs a CUDA GPU.")
    free, total = torch.cuda.mem_get_info()
    if memory_usage is not None and (total - free) / total < memory_usage:
        return False
    cache.models.clear()  # (+) the cached models hold most of that memory
    torch.cuda.empty_cache()
    return True


# ---- the model cache ---------------------------------------------------------------------

@entry
def cached_models():
    from datetime import datetime, timezone
    from . import cache

    def stamp(seconds):
        return datetime.fromtimestamp(seconds, timezone.utc).isoformat()
    return [(e.kind, e.model, e.device, e.bytes, stamp(e.loaded_at), stamp(e.last_used), e.hits)
            for e in cache.models.entries()]


@entry
def show_settings():
    """pgml.settings: every pgml.* setting as the server sees it (defined by startup())."""
    rows = db.execute("""SELECT name, setting, boot_val, source, short_desc FROM pg_catalog.pg_settings
                         WHERE name OPERATOR(pg_catalog.~~) 'pgml.%' ORDER BY name""")
    return [(r["name"], r["setting"], r["boot_val"], r["source"], r["short_desc"]) for r in rows]


@entry
def clear_model_cache():
    from . import cache
    return cache.models.clear()


# ---- vectors -----------------------------------------------------------------------------

@entry
def vector_elementwise(op, vector, other):
    from . import vectors
    return vectors.elementwise(op, vector, other)


@entry
def vector_norm(kind, vector):
    from . import vectors
    return vectors.norm(kind, vector)


@entry
def vector_normalize(kind, vector):
    from . import vectors
    return vectors.normalize(kind, vector)


@entry
def vector_distance(kind, vector, other):
    from . import vectors
    return vectors.distance(kind, vector, other)


@entry
def vector_aggregate(kind, state, value):
    from . import vectors
    return vectors.aggregate_step(kind, state, value)


# ---- utility -----------------------------------------------------------------------------

@entry
def version():
    from . import __version__
    try:
        from ._build import BUILD
    except ImportError:
        BUILD = "dev"
    return "%s (%s)" % (__version__, BUILD)


@entry
def python_version():
    import sys
    return sys.version


@entry
def python_package_version(name):
    from importlib import metadata
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        raise errors.UndefinedObject('Python package "%s" is not installed' % name,
                                     hint="Install it into the pgml venv, or check the name.")


@entry
def python_pip_freeze():
    from importlib import metadata
    return sorted({"%s==%s" % (d.metadata["Name"], d.version) for d in metadata.distributions()},
                  key=str.lower)


@entry
def validate_python_dependencies():
    import importlib
    for module in ("xgboost", "lightgbm", "numpy", "sklearn"):
        try:
            importlib.import_module(module)
        except ImportError as e:
            raise errors.MissingDependency(
                'Python package "%s" is not installed in the pgml venv' % module, detail=str(e),
                hint="Run make install to install the pinned requirements.")
    return True


@entry
def xgboost_version():
    import xgboost  # installed as xgboost-cpu, so ask the module, not the distribution
    return xgboost.__version__


# ---- sklearn metrics ---------------------------------------------------------

@entry
def sklearn_f1_score(ground_truth, y_hat):
    from .ml import metrics
    return metrics.f1_score(ground_truth, y_hat)


@entry
def sklearn_r2_score(ground_truth, y_hat):
    from .ml import metrics
    return metrics.r2_score(ground_truth, y_hat)


@entry
def sklearn_regression_metrics(ground_truth, y_hat):
    from .ml import metrics
    return json.dumps(metrics.regression_metrics(ground_truth, y_hat))


@entry
def sklearn_classification_metrics(ground_truth, y_hat, num_classes):
    from .ml import metrics
    return json.dumps(metrics.classification_metrics(ground_truth, y_hat, num_classes))


# ---- datasets ---------------------------------------------------------------

@entry
def catalog_caller(operation):
    """pgml._caller: the role the catalog writer of `operation` acts for (db.write), else 42501."""
    return db.caller(operation)


def _collection_name(collection, name="collection"):
    if not isinstance(collection, str) or not collection.strip() or "\x00" in collection:
        raise errors.bad_argument(name, "a non-empty name", repr(collection))
    return collection


@entry
def create_collection_schema(collection, pipeline):
    """pgml.create_collection_schema: the schema of a client SDK collection of the calling role
    (or of one of its pipelines), made by pgml's writer, so granted roles need no CREATE."""
    collection = _collection_name(collection)
    if pipeline is not None:
        _collection_name(pipeline, "pipeline")
    return db.write("collection_schema", "SELECT pgml._write_collection_schema($1, $2) AS name",
                    [collection, pipeline], ["text", "text"])[0]["name"]


@entry
def archive_collection(collection):
    """pgml.archive_collection: the SDK's archive(), by pgml's writer (renaming schemas takes
    CREATE on the database, which granted roles do not have)."""
    return db.write("archive_collection", "SELECT pgml._write_archive_collection($1) AS name",
                    [_collection_name(collection)], ["text"])[0]["name"]


@entry
def load_dataset(source, subset, limit, kwargs):
    from . import datasets
    return datasets.load(db, source, subset, limit, parse_kwargs(kwargs),
                         offline=current_settings().huggingface_offline)


# ---- deploy ------------------------------------------------------------------

@entry
def deploy_model(model_id):
    from .ml import deploy as core
    return core.deploy_model(db, model_id)


@entry
def deploy(project_name, strategy, algorithm):
    from .ml import deploy as core
    return core.deploy_project(db, project_name, strategy, algorithm)


# ---- train / predict ------------------------------------------------------

@entry
def train(project_name, task, relation_name, y_column_name, algorithm, hyperparams, search, search_params,
          search_args, test_size, test_sampling, runtime, automatic_deploy, materialize_snapshot, preprocess):
    from .ml import train as core
    require_project_name(project_name)
    from . import threads
    with threads.busy().hold():  # concurrent trains share the cores (threads.py)
        return core.train(
            db, project_name, task=task, relation_name=relation_name, y_column_name=y_column_name,
            algorithm=algorithm or "linear",
            hyperparams=parse_kwargs(hyperparams, "hyperparams"),
            search_method=search,
            search_params=parse_kwargs(search_params, "search_params"),
            search_args=parse_kwargs(search_args, "search_args"),
            test_size=finite_test_size(test_size), test_sampling=test_sampling or "stratified", runtime=runtime,
            automatic_deploy=automatic_deploy, materialize_snapshot=bool(materialize_snapshot),
            preprocess=parse_kwargs(preprocess, "preprocess"),
            n_threads=threads.for_call(current_settings().omp_num_threads),
            progress=activity_progress("pgml.train"),
            check_for_interrupts=db.check_for_interrupts)


@entry
def snapshot(relation_name, y_column_name, test_size, test_sampling, preprocess):
    from .ml import train as core
    return core.take_snapshot(db, relation_name, y_column_name, finite_test_size(test_size), test_sampling,
                              parse_kwargs(preprocess, "preprocess"))


def finite_test_size(test_size):
    """test_size => 'Infinity' or 'NaN' (FLOAT4 allows both) would fail deep in the split."""
    import math
    if test_size is not None and not math.isfinite(test_size):
        raise errors.bad_argument("test_size", "a fraction below 1 or a row count of at least 1", test_size)
    return test_size


def require_project_name(project_name):
    if project_name is None:
        raise errors.NullValueNotAllowed("project_name must not be NULL", hint="Name the project.")


def activity_progress(function):
    """NOTICEs of long work, each also shown as this transaction's application_name, so
    pg_stat_activity says what train/tune is doing."""
    from .progress import Progress

    def show(message):
        db.execute("SELECT pg_catalog.set_config('application_name', $1, true)",
                   [("%s: %s" % (function, message))[:63]], ["text"])
    return Progress(db.notice, status=show)


def loaded_model(project_name, model_id=None):
    """(model id, loaded model): model_id's, else the project's deployed one."""
    from . import catalog, model_loader
    if model_id is None:
        require_project_name(project_name)
        model_id = catalog.deployed_model_id(db, project_name)
    return model_id, model_loader.load(db, model_id, lambda: current_settings().cache_max_models)


def fast_path():
    """pgml.predict_fast_path (one setting, no query), read by a predict that could take the fast
    path, so SET takes effect at once."""
    return settings_module.parse("pgml.predict_fast_path", db.settings(["pgml.predict_fast_path"])["pgml.predict_fast_path"])


@entry
def predict(project_name, model_id, features, kind):
    """Every array form of predict*, decompose: kind names the SQL function."""
    _, model = loaded_model(project_name, model_id)
    if kind == "predict_proba":
        return model.predict_proba(features).reshape(-1).tolist()
    if kind == "predict_joint" and model.task != "regression":
        raise errors.InvalidParameter("predict_joint is for regression models, not %s" % model.task,
                                      hint="Use pgml.predict for this project.")
    if kind == "decompose" and model.task != "decomposition":
        raise errors.InvalidParameter(
            'pgml.decompose is for decomposition models, not %s' % model.task,
            hint="Use pgml.predict for this project, or train one with task 'decomposition'.")
    if kind == "predict":
        return model.predict_first(features, fast=fast_path)
    return model.predict(features).reshape(-1).tolist()


@entry
def predict_row(project_name, model_id, row):
    """pgml.predict(project_name | model_id, ROW(...)): row is the record as JSON (field order)."""
    from .ml import predict as core
    model_id, model = loaded_model(project_name, model_id)
    if getattr(model, "is_tuned", False):  # a tuned text classifier: the row is its text
        return model.predict_row(json.loads(row, object_pairs_hook=list))
    return core.predict_row(db, model, model_id, row)


# ---- tune / generate --------------------------------------------------------

@entry
def tune(project_name, task, relation_name, y_column_name, model_name, hyperparams, test_size, test_sampling,
         automatic_deploy, materialize_snapshot):
    from .hf import tune as core
    require_project_name(project_name)
    return core.tune(
        db, project_name, task=task, relation_name=relation_name, y_column_name=y_column_name,
        model_name=model_name, hyperparams=parse_kwargs(hyperparams, "hyperparams"),
        test_size=finite_test_size(test_size), test_sampling=test_sampling or "stratified", automatic_deploy=automatic_deploy,
        materialize_snapshot=bool(materialize_snapshot), settings=current_settings(),
        progress=activity_progress("pgml.tune"),
        check_for_interrupts=db.check_for_interrupts)


@entry
def generate(project_name, inputs, config):
    """pgml.generate(project, text | text[], config): the project's deployed tuned model."""
    if any(text is None for text in inputs):
        raise errors.NullValueNotAllowed("inputs must not contain NULL elements",
                                         hint="Filter the NULLs out, or COALESCE them to ''.")
    _, model = loaded_model(project_name)
    if not getattr(model, "is_tuned", False):
        raise errors.InvalidParameter(
            'project "%s" is a %s model, not a tuned text model' % (project_name, model.task),
            hint="pgml.generate uses projects made by pgml.tune; use pgml.predict for this one.")
    from . import threads
    with threads.torch_call(current_settings().omp_num_threads):
        return model.generate(list(inputs), parse_kwargs(config, "config"), check_for_interrupts=db.check_for_interrupts)
