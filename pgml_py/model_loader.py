"""The model behind a model id, loaded from pgml.files once per connection: one made by
pgml.tune (hf/tuned.py) or by pgml.train (ml/predict.py). The choice is made here, above both,
so neither imports the other."""
from . import cache, catalog


def load(db, model_id, max_models):
    """The loaded model for model_id, from this connection's cache when already loaded.
    max_models() gives pgml.cache_max_models: read only when a model must be loaded, so a warm
    predict reads no settings."""
    key = ("predict", model_id)
    loaded = cache.models.lookup(key)
    if loaded is not None:
        return loaded

    def read():
        row = catalog.successful_model(db, model_id)
        if row["algorithm"] == "transformers":  # made by pgml.tune
            from . import settings
            from .hf import tuned
            return tuned.restore(db, model_id, settings.read(db))
        from .ml import predict
        return predict.classic(db, model_id, row)
    return cache.models.get_or_load(key, "predict", "model %d" % model_id, "cpu", read, max_models())
