"""pgml.predict and friends (api.md §9): the project's deployed model, loaded from pgml.files
once per connection and cached by model id. One indexed query per call finds the deployed
model, so a deploy committed in another connection is used by the next predict."""
import json

import numpy as np

from .. import cache, errors
from . import storage

LABELS_FILE = "labels.json"  # the original label values of a classification model, in code order

DEPLOYED = """
SELECT d.model_id FROM pgml.deployments d JOIN pgml.projects p ON p.id = d.project_id
WHERE p.name = $1 ORDER BY d.created_at DESC, d.id DESC LIMIT 1"""

MODEL = """
SELECT m.num_features, p.task::pg_catalog.text AS task FROM pgml.models m
JOIN pgml.projects p ON p.id = m.project_id WHERE m.id = $1 AND m.status = 'successful'"""


class Deployed:
    """A loaded model: the estimator, its task, feature count and original class values."""

    def __init__(self, estimator, task, num_features, classes):
        self.estimator, self.task, self.num_features, self.classes = estimator, task, num_features, classes

    def rows(self, features):
        """features as a float32 matrix of num_features columns (row-major, flattened input)."""
        if any(v is None for v in features):
            raise errors.NullValueNotAllowed("features must not contain NULL elements",
                                             hint="Replace NULLs first, e.g. with COALESCE.")
        values = np.asarray(features, dtype=np.float32).reshape(-1)
        if values.size == 0 or values.size % self.num_features:
            raise errors.InvalidParameter(
                "the model expects %d features per row. Got %d values instead." % (self.num_features, values.size),
                hint="Pass the features in the order of the training relation's columns.")
        return values.reshape(-1, self.num_features)

    def predict(self, features):
        X = self.rows(features)
        if self.task == "decomposition":
            return self.estimator.transform(X)
        y = np.asarray(self.estimator.predict(X), dtype=np.float64)
        if self.task == "classification":
            y = y.reshape(len(X), -1)[:, 0]
            if self.classes is not None and all(isinstance(c, (int, float)) for c in self.classes):
                y = np.asarray(self.classes, dtype=np.float64)[y.astype(int)]
        return y

    def predict_proba(self, features):
        if self.task != "classification":
            raise errors.InvalidParameter("You can't predict probabilities for a regression model"
                                          if self.task == "regression" else
                                          "You can't predict probabilities for a %s model" % self.task,
                                          hint="Use pgml.predict for this project.")
        if not hasattr(self.estimator, "predict_proba"):
            raise errors.FeatureNotSupported("this classifier has no probabilities",
                                             hint="Train with an algorithm that has predict_proba.")
        return self.estimator.predict_proba(self.rows(features))


def deployed_model_id(db, project_name):
    rows = db.execute(DEPLOYED, [project_name], ["text"])
    if not rows:
        raise errors.UndefinedObject("No deployed model exists for the project named: `%s`" % project_name,
                                     hint="Train one with pgml.train('%s', ...) or deploy one with pgml.deploy." % project_name)
    return rows[0]["model_id"]


def load(db, model_id, max_models):
    """The Deployed model for model_id, from this connection's cache when already loaded."""
    def read():
        rows = db.execute(MODEL, [model_id], ["int8"])
        if not rows:
            raise errors.UndefinedObject("model %d does not exist or did not finish training" % model_id,
                                         hint="See SELECT * FROM pgml.trained_models.")
        parts = db.execute("SELECT path, data FROM pgml.files WHERE model_id = $1 ORDER BY path, part",
                           [model_id], ["int8"])
        files = {}
        for row in parts:
            files[row["path"]] = files.get(row["path"], b"") + bytes(row["data"])
        classes = json.loads(files.pop(LABELS_FILE)) if LABELS_FILE in files else None
        estimator = storage.load(sorted(files.items()), model_id=model_id)
        return Deployed(estimator, rows[0]["task"], rows[0]["num_features"], classes)
    return cache.models.get_or_load(("predict", model_id), "predict", "model %d" % model_id, "cpu",
                                    read, max_models)
