"""The catalog's rows: every read and write of pgml.projects, snapshots, models, files,
deployments and logs by train, tune, deploy and predict, so the SQL for each table
is in one place. (A materialized snapshot's own table, pgml.snapshot_<id>, is ml/snapshot.py's.)

Everything runs in the caller's transaction through db.execute's prepared plans; row-level
security decides which rows a role sees (projects of roles it belongs to). Granted roles cannot
write these tables: every write goes through a SECURITY DEFINER writer (sql/functions/
08-writers.sql) by db.write, which checks again that the calling role owns what it writes."""
import hashlib
import json

from . import errors

PART_BYTES = 100 * 1024 * 1024  # one pgml.files row: large models are stored in parts


# ---- projects ----------------------------------------------------------------------------

def find_project(db, name):
    """The project row ({id, task}), locked until the transaction ends: concurrent trains,
    tunes and deploys of one project take turns, so automatic deploys never race."""
    rows = db.execute("SELECT id, task::pg_catalog.text AS task FROM pgml.projects WHERE name = $1 FOR UPDATE",
                      [name], ["text"])
    return rows[0] if rows else None


def project_for(db, name, task):
    """(project id, task label): the existing project, or a new one when a task is given
    (task already normalized by the caller)."""
    project = find_project(db, name)
    if project is None:
        if task is None:
            raise errors.InvalidParameter(
                'project "%s" does not exist. To create a new project, you must specify a `task`.' % name,
                hint="Pass task => 'regression' (or classification, clustering, decomposition).")
        # Another first train of the same project may be inserting it right now: wait for it.
        db.write("project", "SELECT pgml._write_project($1, $2)", [name, task], ["text", "text"])
        project = find_project(db, name)
        if project is None:  # the name is taken by a project this role may not see
            raise errors.InsufficientPrivilege(
                'project "%s" belongs to another role' % name,
                hint="Choose another project name; project names are unique across the database.")
    if task is not None and task != project["task"]:
        raise errors.InvalidParameter(
            'project "%s" already exists with a different task: %s' % (name, project["task"]),
            hint="Train it as %s, or choose another project name." % project["task"])
    return project["id"], project["task"]


def project_of_model(db, model_id):
    """{id, name, algorithm, status} of the model's project, locked like find_project; or None."""
    rows = db.execute("""SELECT p.id, p.name, m.algorithm, m.status
                         FROM pgml.models m JOIN pgml.projects p ON p.id = m.project_id
                         WHERE m.id = $1 FOR UPDATE OF p""", [model_id], ["int8"])
    return rows[0] if rows else None


def latest_snapshot_id(db, project_id):
    """The snapshot of the project's newest model that has one (a train without relation_name)."""
    rows = db.execute("""SELECT snapshot_id FROM pgml.models WHERE project_id = $1 AND snapshot_id IS NOT NULL
                         ORDER BY id DESC LIMIT 1""", [project_id], ["int8"])
    return rows[0]["snapshot_id"] if rows else None


# ---- snapshots ---------------------------------------------------------------------------

def insert_snapshot(db, relation_name, y_column_names, test_size, sampling, materialized):
    """A snapshots row in_progress for the relation (its catalog name); returns its id."""
    return db.write("snapshot", "SELECT pgml._write_snapshot($1, $2, $3, $4, $5) AS id",
                    [relation_name, y_column_names, float(test_size), sampling, bool(materialized)],
                    ["text", "text[]", "float4", "text", "bool"])[0]["id"]


def create_snapshot_table(db, snapshot_id, relation_oid):
    """pgml.snapshot_<id>, empty, with the relation's columns, for the calling role to fill."""
    db.write("snapshot_table", "SELECT pgml._write_snapshot_table($1, $2::pg_catalog.oid::pg_catalog.regclass)",
             [snapshot_id, relation_oid], ["int8", "int8"])


def snapshot(db, snapshot_id):
    """{relation_name, y_column_name, test_size, sampling, materialized, mine} of a snapshot, or
    None. mine: current_user took it (only that role resolves its relation name again)."""
    rows = db.execute("""SELECT relation_name, y_column_name, test_size,
                                test_sampling::pg_catalog.text AS sampling, materialized,
                                owner OPERATOR(pg_catalog.=) pg_catalog.to_regrole(pg_catalog.quote_ident(CURRENT_USER)) AS mine,
                                owner::pg_catalog.text AS owner
                         FROM pgml.snapshots WHERE id = $1""", [snapshot_id], ["int8"])
    return rows[0] if rows else None


def write_snapshot_columns(db, snapshot_id, columns, samples):
    """snapshots.columns (each column's type, statistics, preprocessor) and analysis."""
    db.write("snapshot_columns", "SELECT pgml._write_snapshot_columns($1, $2::jsonb, $3::jsonb)",
             [snapshot_id, json.dumps(columns), json.dumps({"samples": samples})], ["int8", "text", "text"])


# ---- models and their files --------------------------------------------------------------

def insert_model(db, project_id, snapshot_id, num_features, algorithm, hyperparams, runtime=None,
                 search=None, search_params=None, search_args=None):
    """A models row in_progress; returns its id. finish_model makes it successful."""
    return db.write("model", """
        SELECT pgml._write_model($1, $2, $3, $4, $5, $6::jsonb, $7, $8::jsonb, $9::jsonb) AS id""", [project_id, snapshot_id, num_features, algorithm, runtime, json.dumps(hyperparams),
                          search, json.dumps(search_params or {}), json.dumps(search_args or {})],
        ["int8", "int8", "int4", "text", "text", "text", "text", "text", "text"])[0]["id"]


def finish_model(db, model_id, metrics, hyperparams=None):
    """Status successful with its metrics (and the hyperparams a search chose, when given)."""
    db.write("model_finished", "SELECT pgml._write_model_finished($1, $2::jsonb, $3::jsonb)",
             [model_id, json.dumps(metrics), None if hyperparams is None else json.dumps(hyperparams)],
               ["int8", "text", "text"])


MODEL = """
SELECT m.num_features, m.algorithm, p.task::pg_catalog.text AS task FROM pgml.models m
JOIN pgml.projects p ON p.id = m.project_id WHERE m.id = $1 AND m.status = 'successful'"""


def successful_model(db, model_id):
    """{num_features, algorithm, task} of a model whose training succeeded, else the ERROR."""
    rows = db.execute(MODEL, [model_id], ["int8"])
    if not rows:
        raise errors.UndefinedObject("model %d does not exist or did not finish training" % model_id,
                                     hint="See SELECT * FROM pgml.trained_models.")
    return rows[0]


def previous_model_name(db, project_id):
    """The model_name of the project's newest tune (what a tune without model_name continues)."""
    rows = db.execute("""SELECT hyperparams->>'model_name' AS name FROM pgml.models
                         WHERE project_id = $1 AND algorithm = 'transformers'
                         ORDER BY id DESC LIMIT 1""", [project_id], ["int8"])
    return rows[0]["name"] if rows else None


def snapshot_feature_columns(db, model_id):
    """The feature columns recorded in the model's snapshot (pgml.snapshots.columns), or None."""
    rows = db.execute("""SELECT s.columns::pg_catalog.text AS columns FROM pgml.models m
                         JOIN pgml.snapshots s ON s.id = m.snapshot_id WHERE m.id = $1""", [model_id], ["int8"])
    columns = json.loads(rows[0]["columns"] or "null") if rows else None
    return [c for c in columns if not c.get("label")] if columns else None


def store_files(db, model_id, files):
    """[(path, bytes)] as pgml.files rows, each file in parts of at most PART_BYTES."""
    for path, data in files:
        for part, start in enumerate(range(0, max(len(data), 1), PART_BYTES)):
            db.write("file", "SELECT pgml._write_file($1, $2, $3, $4)",
                     [model_id, path, part, data[start:start + PART_BYTES]], ["int8", "text", "int4", "bytea"])


def model_files(db, model_id):
    """{path: bytes} of the model's pgml.files rows, parts joined in order. Each part's sha256 is
    compared with the digest pgml's writer stored beside it before any library parses the bytes:
    a changed file is XX001, never a crash in a native parser."""
    parts = {}
    for row in db.execute("SELECT path, part, data, digest FROM pgml.files WHERE model_id = $1 ORDER BY path, part",
                          [model_id], ["int8"]):
        data = bytes(row["data"])
        if hashlib.sha256(data).digest() != bytes(row["digest"]):
            raise errors.DataCorrupted(
                "file %s (part %d) of model %d does not match the digest stored with it" % (row["path"], row["part"], model_id),
                hint="The model's bytes were changed outside pgml: train or tune the model again.")
        parts.setdefault(row["path"], []).append(data)
    return {path: b"".join(chunks) for path, chunks in parts.items()}


# ---- deployments -------------------------------------------------------------------------

DEPLOYED = """
SELECT d.model_id FROM pgml.deployments d
WHERE d.project_id = (SELECT p.id FROM pgml.projects p WHERE p.name = $1)
ORDER BY d.id DESC LIMIT 1"""  # the project by its unique name first: a plan with no join

_looked_up = {"view": None, "ids": {}}   # (role, project name) -> deployed model id, this snapshot


def deployed_model_id(db, project_name):
    """The project's deployed model as the running statement sees it: the last deployment
    committed before the statement's snapshot, as a read-committed SELECT would find it. Read
    once per snapshot and project (every row of `SELECT pgml.predict(...) FROM t` shares one);
    each statement of a query string, DO block or function has its own snapshot, and predict is
    STABLE so a prepared plan calls it again. A deploy in this connection is used at once."""
    view = db.statement_view()
    if view is None or _looked_up["view"] != view:
        _looked_up["view"], _looked_up["ids"] = view, {}
    key = (db.current_role(), project_name)  # what a role sees of the catalog is its own
    model_id = _looked_up["ids"].get(key)
    if model_id is None:
        rows = db.execute(DEPLOYED, [project_name], ["text"])
        if not rows:
            raise errors.UndefinedObject(
                "No deployed model exists for the project named: `%s`" % project_name,
                hint="Train one with pgml.train('%s', ...) or deploy one with pgml.deploy." % project_name)
        model_id = _looked_up["ids"][key] = rows[0]["model_id"]
    return model_id


def insert_deployment(db, project_id, model_id, strategy):
    """The one way a deployment is made: predicts in this connection see it from now on."""
    db.write("deployment", "SELECT pgml._write_deployment($1, $2, $3)", [project_id, model_id, strategy], ["int8", "int8", "text"])
    _looked_up["view"], _looked_up["ids"] = None, {}


def deployed_metrics(db, project_id):
    """(True, metrics of the deployed model) or (False, None) when nothing is deployed."""
    rows = db.execute("""SELECT m.metrics::pg_catalog.text AS metrics FROM pgml.deployments d
                         JOIN pgml.models m ON m.id = d.model_id WHERE d.project_id = $1
                         ORDER BY d.id DESC LIMIT 1""", [project_id], ["int8"])
    return (True, json.loads(rows[0]["metrics"] or "null")) if rows else (False, None)


# Only models that finished training can serve predictions. PostgresML 2.10 did not filter
# on status (a failed train rolls its row back there, so committed rows were successful).
_CANDIDATES = """
SELECT m.id, m.algorithm
FROM pgml.models m
WHERE m.project_id = $1 AND m.status = 'successful'
  AND ($2::pg_catalog.text IS NULL OR m.algorithm = $2)"""

# The target metric compared as a number (PostgresML compared the JSON text, so 10.5 < 9.1).
# Non-numeric or missing values sort last; ties go to the newest model.
_BEST_SCORE = _CANDIDATES + """
ORDER BY CASE WHEN pg_catalog.jsonb_typeof(m.metrics -> $3) = 'number'
              THEN (m.metrics ->> $3)::pg_catalog.float8 * (CASE WHEN $4 THEN 1 ELSE -1 END)
         END DESC NULLS LAST,
         m.created_at DESC, m.id DESC
LIMIT 1"""

_MOST_RECENT = _CANDIDATES + """
ORDER BY m.created_at DESC, m.id DESC
LIMIT 1"""

# The newest earlier deployment of another model than the current one: repeated rollbacks
# alternate between the last two models, as in PostgresML.
_ROLLBACK = """
SELECT m.id, m.algorithm
FROM pgml.deployments d
JOIN pgml.models m ON m.id = d.model_id
WHERE d.project_id = $1 AND m.status = 'successful'
  AND ($2::pg_catalog.text IS NULL OR m.algorithm = $2)
  AND m.id <> (SELECT c.model_id FROM pgml.deployments c WHERE c.project_id = $1
               ORDER BY c.id DESC LIMIT 1)
ORDER BY d.id DESC
LIMIT 1"""


def best_scoring_model(db, project_id, algorithm, metric, higher_is_better):
    rows = db.execute(_BEST_SCORE, [project_id, algorithm, metric, higher_is_better], ["int8", "text", "text", "bool"])
    return rows[0] if rows else None


def most_recent_model(db, project_id, algorithm):
    rows = db.execute(_MOST_RECENT, [project_id, algorithm], ["int8", "text"])
    return rows[0] if rows else None


def previously_deployed_model(db, project_id, algorithm):
    rows = db.execute(_ROLLBACK, [project_id, algorithm], ["int8", "text"])
    return rows[0] if rows else None


# ---- logs --------------------------------------------------------------------------------

def insert_log(db, model_id, project_id, record):
    db.write("log", "SELECT pgml._write_log($1, $2, $3::jsonb)", [model_id, project_id, json.dumps(record)], ["int8", "int8", "text"])
