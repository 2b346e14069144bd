"""Model storage: every algorithm round-trips exactly, and no crafted row can run code."""
import functools
import io
import json
import os
import pickle
import subprocess
import sys
import warnings
import zipfile

import numpy as np
import pytest

from pgml_py import errors
from pgml_py.ml import storage

pytestmark = pytest.mark.filterwarnings("ignore")   # convergence and deprecation noise of tiny fits

rng = np.random.RandomState(0)
X = rng.rand(60, 4).astype(np.float32)
Y = X @ np.array([1, 2, -1, .5], dtype=np.float32) + rng.rand(60).astype(np.float32) * .1
# Float32 everywhere, as pgml.train encodes features and label codes.
TARGETS = {"reg": Y, "bin": (Y > Y.mean()).astype(np.float32),
           "multi": np.digitize(Y, np.quantile(Y, [.33, .66])).astype(np.float32),
           "pos": np.abs(Y) + .1, "joint": np.c_[Y, -Y], None: None}


def _models():
    """(target, estimator) for every algorithm of PostgresML 2.10, plus hyperparameter variants
    that bring in the other loss and transformer types of storage.TRUSTED_TYPES."""
    from sklearn import cluster, decomposition, ensemble as en, gaussian_process as gp, impute
    from sklearn import kernel_ridge, linear_model as lm, pipeline, preprocessing as pp, svm
    from sklearn.base import clone
    from sklearn.multioutput import MultiOutputRegressor
    import catboost, lightgbm, xgboost
    n = dict(n_estimators=5)
    reg = [lm.LinearRegression(), lm.Ridge(), lm.Lasso(), lm.ElasticNet(), lm.Lars(),
           lm.LassoLars(), lm.OrthogonalMatchingPursuit(), lm.BayesianRidge(), lm.ARDRegression(),
           kernel_ridge.KernelRidge(), svm.SVR(), svm.NuSVR(), svm.LinearSVR(), lm.SGDRegressor(),
           lm.SGDRegressor(loss="huber"), lm.SGDRegressor(loss="epsilon_insensitive"),
           lm.SGDRegressor(loss="squared_epsilon_insensitive"), lm.PassiveAggressiveRegressor(),
           lm.RANSACRegressor(), lm.TheilSenRegressor(), lm.HuberRegressor(),
           lm.QuantileRegressor(),
           gp.GaussianProcessRegressor(), en.AdaBoostRegressor(**n), en.BaggingRegressor(**n),
           en.ExtraTreesRegressor(**n), en.RandomForestRegressor(**n),
           en.GradientBoostingRegressor(**n), en.GradientBoostingRegressor(loss="huber", **n),
           en.GradientBoostingRegressor(loss="absolute_error", **n),
           en.GradientBoostingRegressor(loss="quantile", **n),
           en.HistGradientBoostingRegressor(max_iter=5),
           en.HistGradientBoostingRegressor(max_iter=5, loss="quantile", quantile=.5),
           en.HistGradientBoostingRegressor(max_iter=5, loss="absolute_error"),
           pipeline.make_pipeline(impute.SimpleImputer(), pp.MinMaxScaler(), pp.MaxAbsScaler(),
                                  pp.RobustScaler(), pp.StandardScaler(), lm.Ridge()),
           xgboost.XGBRegressor(**n), xgboost.XGBRFRegressor(**n),
           lightgbm.LGBMRegressor(verbose=-1, **n),
           catboost.CatBoostRegressor(iterations=5, verbose=False, allow_writing_files=False)]
    pos = [en.HistGradientBoostingRegressor(max_iter=5, loss=loss) for loss in ("poisson", "gamma")]
    cls = [lm.LogisticRegression(), lm.Perceptron(), svm.SVC(probability=True), svm.NuSVC(),
           svm.LinearSVC(), lm.RidgeClassifier(), lm.SGDClassifier(),
           lm.SGDClassifier(loss="log_loss"),
           lm.SGDClassifier(loss="modified_huber"), lm.SGDClassifier(loss="squared_hinge"),
           lm.PassiveAggressiveClassifier(), gp.GaussianProcessClassifier(),
           en.AdaBoostClassifier(**n), en.BaggingClassifier(**n), en.ExtraTreesClassifier(**n),
           en.RandomForestClassifier(**n), en.GradientBoostingClassifier(**n),
           en.HistGradientBoostingClassifier(max_iter=5), xgboost.XGBClassifier(**n),
           xgboost.XGBRFClassifier(**n), lightgbm.LGBMClassifier(verbose=-1, **n),
           catboost.CatBoostClassifier(iterations=5, verbose=False, allow_writing_files=False)]
    clu = [cluster.AffinityPropagation(), cluster.Birch(), cluster.KMeans(3, n_init=1),
           cluster.MiniBatchKMeans(3, n_init=1), cluster.MeanShift(), decomposition.PCA(2)]
    joint = [lm.BayesianRidge(), lm.ARDRegression(), lm.SGDRegressor(),
             lm.PassiveAggressiveRegressor(), lm.TheilSenRegressor(), lm.HuberRegressor(),
             lm.QuantileRegressor(), svm.SVR(), svm.NuSVR(), svm.LinearSVR(),
             en.AdaBoostRegressor(**n), en.GradientBoostingRegressor(**n),
             lightgbm.LGBMRegressor(verbose=-1, **n), xgboost.XGBRegressor(**n)]
    exponential = en.GradientBoostingClassifier(loss="exponential", **n)
    return ([("reg", e) for e in reg] + [("pos", e) for e in pos] + [("bin", e) for e in cls]
            + [("multi", clone(e)) for e in cls] + [("bin", exponential)]
            + [(None, e) for e in clu] + [("joint", MultiOutputRegressor(e)) for e in joint])


with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    MODELS = _models()


def _name(i):
    target, est = MODELS[i]
    inner = getattr(est, "estimator", None)
    inner = type(inner).__name__ if inner is not None else ""
    return "%d-%s-%s%s" % (i, target, type(est).__name__, "(%s)" % inner if inner else "")


def _fit(target, est):
    return est.fit(X) if target is None else est.fit(X, TARGETS[target])


def _outputs(est):
    methods = ("predict", "predict_proba", "transform")
    return {m: getattr(est, m)(X) for m in methods if hasattr(est, m)}


@functools.lru_cache(maxsize=None)
def used_names():
    """Every type name in the skops archives of all MODELS (fitted once per run, whichever
    test asks first)."""
    names = set()
    for args in MODELS:
        for path, data in storage.dump(_fit(*args)):
            if path.endswith(".skops"):
                names |= storage._schema_names(data)
    return frozenset(names)


@pytest.mark.parametrize("i", range(len(MODELS)), ids=_name)
def test_round_trip_gives_the_same_results(i):
    est = _fit(*MODELS[i])
    files = storage.dump(est)
    assert files and all(isinstance(p, str) and isinstance(d, bytes) for p, d in files)
    assert {p.rsplit("/", 1)[-1] for p, _ in files} <= set(storage.PATHS)
    loaded = storage.load(files)
    assert type(loaded) is type(est)
    expected, got = _outputs(est), _outputs(loaded)
    assert expected.keys() == got.keys() and ("predict" in got or "transform" in got)
    for method in expected:
        np.testing.assert_allclose(got[method], expected[method], rtol=1e-6, err_msg=method)
    for path, data in files:
        if path.endswith(".skops"):   # our walk of the archive sees all that skops would flag
            names = storage._schema_names(data)
            assert set(storage._skops_io().get_untrusted_types(data=data)) <= names


def test_trusted_types_are_exactly_what_the_algorithms_need():
    used = used_names()
    kinds = storage._SKOPS_TRUSTED
    assert sorted(storage.TRUSTED_TYPES - used) == [], "trusted but never needed"
    assert sorted(used - kinds - storage.TRUSTED_TYPES) == [], "needed but not trusted"
    assert sorted(kinds - used) == [], "node kinds or protocol never needed"


def test_trusted_types_are_plain_classes():
    import importlib
    for name in storage.TRUSTED_TYPES:
        module, _, attr = name.rpartition(".")
        assert module.split(".")[0] in ("builtins", "numpy", "sklearn"), name
        assert isinstance(getattr(importlib.import_module(module), attr), type), name
    assert not {"builtins.eval", "builtins.exec", "builtins.getattr"} & storage.TRUSTED_TYPES


class Exploit:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, ("touch %s" % self.marker,)


def _skops_archive(schema):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as archive:
        archive.writestr("schema.json", json.dumps(schema))
    return buf.getvalue()


def _json_node(value):
    return {"__class__": "str", "__module__": "builtins", "__loader__": "JsonNode",
            "content": json.dumps(value), "is_json": True}


def _call_node(module, name, arg):
    """A skops node that makes skops call module.name(arg) while loading."""
    args = {"__class__": "tuple", "__module__": "builtins", "__loader__": "TupleNode",
            "content": [_json_node(arg)]}
    return {"__class__": name, "__module__": module, "__loader__": "LossNode",
            "__reduce__": {"args": args},
            "content": {"__class__": "dict", "__module__": "builtins", "__loader__": "DictNode",
                        "content": {}, "key_types": {"__class__": "list", "__module__": "builtins",
                                                     "__loader__": "ListNode", "content": []}}}


def _assert_refused(files, marker):
    with pytest.raises(errors.PgmlError) as info:
        storage.load(files, model_id=7)
    assert info.value.sqlstate == "XX001" and "model 7" in info.value.message
    assert "train" in info.value.hint
    assert not marker.exists()
    return info.value


def test_crafted_skops_archive_runs_nothing(tmp_path):
    import skops.io
    live = tmp_path / "live"
    payload = _skops_archive(dict(_call_node("os", "system", "touch %s" % live), protocol=2))
    skops.io.loads(payload, trusted=["os.system"])   # the payload is real: trusted, it runs
    assert live.exists()
    marker = tmp_path / "marker"
    attacks = [_call_node("os", "system", "touch %s" % marker),
               _call_node("builtins", "exec", "open(%r, 'w')" % str(marker))]
    genuine = json.loads(zipfile.ZipFile(io.BytesIO(storage.dump(_fit("reg", _ridge()))[0][1]))
                         .read("schema.json"))
    for attack in attacks:
        nested = json.loads(json.dumps(genuine))
        nested["content"]["content"]["alpha"] = attack   # hidden inside a genuine Ridge
        for schema in (dict(attack, protocol=2), nested):
            error = _assert_refused([("estimator.skops", _skops_archive(schema))], marker)
            assert "os.system" in error.detail or "builtins.exec" in error.detail
    old = dict(genuine, protocol=1)   # an older protocol would pick older node classes
    error = _assert_refused([("estimator.skops", _skops_archive(old))], marker)
    assert "protocol 1" in error.detail


def test_birch_state_holds_only_birch_attributes(tmp_path):
    import skops.io
    from sklearn.cluster import Birch
    files = storage.dump(_fit(None, Birch()))
    assert [p for p, _ in files] == ["estimator.birch.skops"]
    altered = skops.io.loads(files[0][1], trusted=sorted(storage.TRUSTED_TYPES))
    altered["state"]["predict"] = "x"   # would shadow Birch.predict
    _assert_refused([("estimator.birch.skops", skops.io.dumps(altered))], tmp_path / "marker")


def _ridge():
    from sklearn.linear_model import Ridge
    return Ridge()


def test_pickle_payload_under_every_path_runs_nothing(tmp_path):
    live = tmp_path / "live"
    pickle.loads(pickle.dumps(Exploit(live)))   # the payload is real: unpickled, it runs
    assert live.exists()
    marker = tmp_path / "marker"
    payload = pickle.dumps(Exploit(marker))
    for path in storage.PATHS:
        _assert_refused([(path, payload)], marker)
    from sklearn.cluster import Birch
    from sklearn.multioutput import MultiOutputRegressor
    import catboost, lightgbm, xgboost
    lgbm = lightgbm.LGBMRegressor(n_estimators=2, verbose=-1)
    for target, est in [("reg", _ridge()), (None, Birch()), ("joint", MultiOutputRegressor(lgbm)),
                        ("bin", xgboost.XGBClassifier(n_estimators=2)),
                        ("bin", lightgbm.LGBMClassifier(n_estimators=2, verbose=-1)),
                        ("bin", catboost.CatBoostClassifier(iterations=2, verbose=False, allow_writing_files=False))]:
        files = storage.dump(_fit(target, est))
        for i in range(len(files)):   # each stored file in turn replaced by the payload
            _assert_refused(files[:i] + [(files[i][0], payload)] + files[i + 1:], marker)


def test_garbage_and_bad_file_sets_are_clear_errors(tmp_path):
    marker = tmp_path / "marker"
    for files in ([("estimator.skops", b"\x00garbage")], [("estimator.ubj", b"")], [],
                  [("other.bin", b"x")], [("estimator.skops", b"x"), ("estimator.skops", b"y")],
                  [("estimator.xgb.json", b'{"class": "os.system"}'), ("estimator.ubj", b"x")]):
        error = _assert_refused(files, marker)
        assert "pgml.files" in error.message and error.detail


def test_altered_numbers_cannot_crash_compiled_predict(tmp_path):
    """Trees, histogram trees, libsvm and k-means arrays are bounds checked after loading."""
    from sklearn.cluster import KMeans
    from sklearn.ensemble import (GradientBoostingRegressor, HistGradientBoostingRegressor,
                                  RandomForestRegressor)
    from sklearn.svm import SVC
    forest = _fit("reg", RandomForestRegressor(n_estimators=2, max_depth=3))
    tree = forest.estimators_[1].tree_
    state = tree.__getstate__()
    state["nodes"]["left_child"][0] = 10 ** 6
    tree.__setstate__(state)
    hgb = _fit("reg", HistGradientBoostingRegressor(max_iter=2))
    hgb._predictors[1][0].nodes["feature_idx"][0] = 99
    svc = _fit("multi", SVC())
    svc._n_support = svc._n_support + 5
    kmeans = _fit(None, KMeans(3, n_init=1))
    kmeans.cluster_centers_ = kmeans.cluster_centers_[:, :2]
    boosted = _fit("reg", GradientBoostingRegressor(n_estimators=2))
    boosted.estimators_ = np.hstack([boosted.estimators_] * 2)   # writes past its output column
    for est, reason in [(forest, "a tree links to a node or feature out of range"),
                        (hgb, "a tree links to a node or feature out of range"),
                        (svc, "support vector arrays do not match"),
                        (kmeans, "cluster centers do not match"),
                        (boosted, "gradient boosting trees do not match")]:
        assert reason in _assert_refused(storage.dump(est), tmp_path / "marker").detail


def test_dump_refuses_what_it_could_not_load_back():
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer
    est = _fit("reg", make_pipeline(FunctionTransformer(np.log1p), _ridge()))
    with pytest.raises(errors.FeatureNotSupported, match="cannot be stored safely") as info:
        storage.dump(est)
    assert "numpy.log1p" in info.value.detail


def test_dump_and_load_never_import_torch():
    code = """if True:
        import sys, numpy as np
        from pgml_py.ml import storage
        assert not {"torch", "sklearn", "xgboost", "lightgbm", "catboost"} & set(sys.modules)
        import catboost, lightgbm, xgboost
        from sklearn.ensemble import RandomForestClassifier
        X = np.random.rand(30, 3); y = (X[:, 0] > .5).astype(int)
        for est in (RandomForestClassifier(n_estimators=2), xgboost.XGBClassifier(n_estimators=2),
                    lightgbm.LGBMClassifier(n_estimators=2, verbose=-1),
                    catboost.CatBoostClassifier(iterations=2, verbose=False, allow_writing_files=False)):
            storage.load(storage.dump(est.fit(X, y))).predict_proba(X)
        print(sorted(m for m in sys.modules if m.split(".")[0] in ("torch", "transformers")))
    """
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=os.path.dirname(os.path.dirname(os.path.dirname(__file__))))
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "[]"
