"""pgml.deploy: pick a model of a project and make it the live one by inserting a
pgml.deployments row. The live model is the project's newest deployments row.

The queries are catalog.py's. Each deploy locks its project row first (SELECT ... FOR UPDATE):
two concurrent deploys of one project serialize, and the second one sees the first one's
deployment (rollback relies on it).
"""
from .. import catalog, errors
from . import metrics

# Strategies pgml.deploy(project_name, strategy, ...) accepts. new_score is what train's
# automatic deploy records and specific what deploy(model_id) records.
STRATEGIES = ("best_score", "most_recent", "rollback")


def automatic(db, project_id, task, model_id, new_metrics):
    """After a train or tune: deploy unless the deployed model is strictly better on the
    target metric. True when it deployed."""
    deployed, current = catalog.deployed_metrics(db, project_id)
    if deployed and not metrics.is_better(task, new_metrics, current):
        return False
    catalog.insert_deployment(db, project_id, model_id, "new_score")
    return True


def deploy_model(db, model_id):
    """pgml.deploy(model_id): that model becomes its project's live model (strategy specific)."""
    row = catalog.project_of_model(db, model_id)
    if row is None:
        raise errors.UndefinedObject(
            "model %s does not exist" % model_id,
            hint="Pick an id from pgml.trained_models.")
    if row["status"] != "successful":
        raise errors.ObjectNotInPrerequisiteState(
            "model %s cannot be deployed: its status is %s" % (model_id, row["status"]),
            hint="Deploy a model whose training succeeded (status successful in pgml.models).")
    catalog.insert_deployment(db, row["id"], model_id, "specific")
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
    project = catalog.find_project(db, project_name)
    if project is None:
        # PostgresML 2.10's text for this case.
        raise errors.UndefinedObject(
            "Project named `%s` does not exist." % project_name,
            hint="Train a model first with pgml.train('%s', ...)." % project_name)
    project_id, task = project["id"], project["task"]
    if strategy == "best_score":
        if task.replace("-", "_") not in metrics.TARGETS:
            raise errors.InvalidParameter(
                'project "%s" has task %s, which has no target metric for best_score'
                % (project_name, task),
                hint="Use strategy => 'most_recent', or pgml.deploy(model_id).")
        metric, higher = metrics.target(task)
        chosen = catalog.best_scoring_model(db, project_id, algorithm, metric, higher)
    elif strategy == "most_recent":
        chosen = catalog.most_recent_model(db, project_id, algorithm)
    else:
        chosen = catalog.previously_deployed_model(db, project_id, algorithm)
    if chosen is None:
        raise errors.ObjectNotInPrerequisiteState(
            "No qualified models exist for this deployment.",
            detail='Project "%s" has no %s model%s.' % (
                project_name,
                "successful" if algorithm is None else "successful %s" % algorithm,
                " deployed before the current one" if strategy == "rollback" else ""),
            hint="Train one with pgml.train first, or choose another algorithm or strategy.")
    model_id, model_algorithm = chosen["id"], chosen["algorithm"]
    catalog.insert_deployment(db, project_id, model_id, strategy)
    return [(project_name, strategy, model_algorithm)]
