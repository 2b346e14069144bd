"""pgml.deploy (api.md §9): pick a model of a project and make it the live one by inserting a
pgml.deployments row. The live model is the project's newest deployments row.

Takes the `db` adapter (db.execute with $n parameters), so it runs on the real server only.
Each deploy locks its project row first (SELECT ... FOR UPDATE): two concurrent deploys of one
project serialize, and the second one sees the first one's deployment (rollback relies on it).
"""
from .. import errors
from . import metrics

# Strategies pgml.deploy(project_name, strategy, ...) accepts. new_score is what train's
# automatic deploy records and specific what deploy(model_id) records.
STRATEGIES = ("best_score", "most_recent", "rollback")

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

_LOCK_PROJECT = """
SELECT p.id, p.task::pg_catalog.text AS task
FROM pgml.projects p WHERE p.name = $1
FOR UPDATE"""

_LOCK_PROJECT_OF_MODEL = """
SELECT p.id, p.name, m.algorithm, m.status
FROM pgml.models m JOIN pgml.projects p ON p.id = m.project_id
WHERE m.id = $1
FOR UPDATE OF p"""

_INSERT = """
INSERT INTO pgml.deployments (project_id, model_id, strategy)
VALUES ($1, $2, $3::pgml.strategy)"""


def insert(db, project_id, model_id, strategy):
    """The one way a deployment is made: predicts in this connection see it from now on."""
    from . import predict
    db.execute(_INSERT, [project_id, model_id, strategy], ["int8", "int8", "text"])
    predict.forget_deployments()


def deploy_model(db, model_id):
    """pgml.deploy(model_id): that model becomes its project's live model (strategy specific)."""
    rows = db.execute(_LOCK_PROJECT_OF_MODEL, [model_id], ["int8"])
    if not rows:
        raise errors.UndefinedObject(
            "model %s does not exist" % model_id,
            hint="Pick an id from pgml.trained_models.")
    row = rows[0]
    if row["status"] != "successful":
        raise errors.ObjectNotInPrerequisiteState(
            "model %s cannot be deployed: its status is %s" % (model_id, row["status"]),
            hint="Deploy a model whose training succeeded (status successful in pgml.models).")
    insert(db, row["id"], model_id, "specific")
    return [(row["name"], "specific", row["algorithm"])]


def deploy_project(db, project_name, strategy="best_score", algorithm=None):
    """pgml.deploy(project_name, strategy, algorithm): picks a model by strategy, optionally
    among one algorithm's models, and deploys it. Returns [(project, strategy, algorithm)]."""
    if strategy not in STRATEGIES:
        raise errors.InvalidParameter(
            "invalid strategy %s for pgml.deploy(project_name, ...)"
            % ("NULL" if strategy is None else '"%s"' % strategy),
            detail="It must be one of %s." % ", ".join(STRATEGIES),
            hint="Use best_score, most_recent or rollback; pgml.deploy(model_id) deploys one model.")
    if project_name is None:
        raise errors.NullValueNotAllowed(
            "project_name must not be NULL", hint="Pass the name of a project in pgml.projects.")
    rows = db.execute(_LOCK_PROJECT, [project_name], ["text"])
    if not rows:
        # PostgresML 2.10's text for this case.
        raise errors.UndefinedObject(
            "Project named `%s` does not exist." % project_name,
            hint="Train a model first with pgml.train('%s', ...)." % project_name)
    project_id, task = rows[0]["id"], rows[0]["task"]
    if strategy == "best_score":
        if task.replace("-", "_") not in metrics.TARGETS:
            raise errors.InvalidParameter(
                'project "%s" has task %s, which has no target metric for best_score'
                % (project_name, task),
                hint="Use strategy => 'most_recent', or pgml.deploy(model_id).")
        metric, higher = metrics.target(task)
        rows = db.execute(_BEST_SCORE, [project_id, algorithm, metric, higher],
                          ["int8", "text", "text", "bool"])
    elif strategy == "most_recent":
        rows = db.execute(_MOST_RECENT, [project_id, algorithm], ["int8", "text"])
    else:
        rows = db.execute(_ROLLBACK, [project_id, algorithm], ["int8", "text"])
    if not rows:
        raise errors.ObjectNotInPrerequisiteState(
            "No qualified models exist for this deployment.",
            detail='Project "%s" has no %s model%s.' % (
                project_name,
                "successful" if algorithm is None else "successful %s" % algorithm,
                " deployed before the current one" if strategy == "rollback" else ""),
            hint="Train one with pgml.train first, or choose another algorithm or strategy.")
    model_id, model_algorithm = rows[0]["id"], rows[0]["algorithm"]
    insert(db, project_id, model_id, strategy)
    return [(project_name, strategy, model_algorithm)]
