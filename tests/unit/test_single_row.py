"""The one-row fast paths give exactly what the estimator's own predict gives, after the
storage round trip the server does, missing values included; kinds they do not cover get None."""
import numpy as np
import pytest

from pgml_py.ml import single_row, storage

pytestmark = pytest.mark.filterwarnings("ignore")

rng = np.random.RandomState(1)
X = rng.normal(size=(300, 6)).astype(np.float32)
X[rng.rand(*X.shape) < 0.05] = np.nan   # missing values take each tree's default direction
Y = np.nan_to_num(X) @ np.array([1, 2, -1, .5, 0, 3], dtype=np.float32)
TARGETS = {"reg": Y, "bin": (Y > 0).astype(np.float32),
           "multi": np.digitize(Y, np.quantile(Y, [.25, .5, .75])).astype(np.float32)}


def _fitted(make, target):
    estimator = make().fit(X, TARGETS[target])
    return storage.load(storage.dump(estimator))


def _cases():
    import lightgbm
    import xgboost
    from sklearn import ensemble
    n = dict(n_estimators=20, n_jobs=1)
    return [
        ("xgb-reg", lambda: xgboost.XGBRegressor(**n), "reg"),
        ("xgb-reg-poisson", lambda: xgboost.XGBRegressor(objective="count:poisson", **n), "reg-pos"),
        ("xgb-bin", lambda: xgboost.XGBClassifier(**n), "bin"),
        ("xgb-multi", lambda: xgboost.XGBClassifier(**n), "multi"),
        ("xgb-rf-reg", lambda: xgboost.XGBRFRegressor(**n), "reg"),
        ("xgb-rf-multi", lambda: xgboost.XGBRFClassifier(**n), "multi"),
        ("lgb-reg", lambda: lightgbm.LGBMRegressor(verbose=-1, **n), "reg"),
        ("lgb-bin", lambda: lightgbm.LGBMClassifier(verbose=-1, **n), "bin"),
        ("lgb-multi", lambda: lightgbm.LGBMClassifier(verbose=-1, **n), "multi"),
        ("rf-reg", lambda: ensemble.RandomForestRegressor(**n), "reg"),
        ("et-reg", lambda: ensemble.ExtraTreesRegressor(**n), "reg"),
        ("rf-bin", lambda: ensemble.RandomForestClassifier(**n), "bin"),
        ("et-multi", lambda: ensemble.ExtraTreesClassifier(**n), "multi"),
    ]


TARGETS["reg-pos"] = np.abs(Y) + 0.1


@pytest.mark.parametrize("name, make, target", _cases(), ids=[c[0] for c in _cases()])
def test_same_as_the_estimators_predict(name, make, target):
    estimator = _fitted(make, target)
    one_row = single_row.predictor(estimator, X.shape[1])
    assert one_row is not None
    expected = np.asarray(estimator.predict(X)).reshape(len(X))
    got = np.array([one_row(row) for row in X.tolist()])
    np.testing.assert_array_equal(got.astype(np.float32), expected.astype(np.float32))
    if target != "reg" and target != "reg-pos":
        assert len(set(got.tolist())) > 1   # not one class for every row


@pytest.mark.parametrize("name, make, target", _cases(), ids=[c[0] for c in _cases()])
def test_no_fast_path_for_another_width(name, make, target):
    """The catalog's num_features must match the model's, or its own predict checks the width."""
    estimator = _fitted(make, target)
    assert single_row.predictor(estimator, X.shape[1] - 1) is None
    assert single_row.predictor(estimator, X.shape[1] + 1) is None


def test_takes_python_numbers_of_every_array_type():
    import decimal
    import xgboost
    estimator = _fitted(lambda: xgboost.XGBRegressor(n_estimators=5), "reg")
    one_row = single_row.predictor(estimator, X.shape[1])
    as_float = one_row([1.5, 2, -1, 0, 1, 3])
    assert one_row([decimal.Decimal("1.5"), 2, -1, 0, 1, 3]) == as_float
    assert one_row([1.5, 2, -1, False, True, 3]) == as_float


def test_kinds_without_a_fast_path():
    import sklearn.linear_model
    import xgboost
    n = dict(n_estimators=5)
    assert single_row.predictor(_fitted(lambda: xgboost.XGBRegressor(booster="gblinear", **n), "reg"), 6) is None
    assert single_row.predictor(_fitted(lambda: xgboost.XGBClassifier(objective="multi:softmax", **n), "multi"),
                                6) is None
    assert single_row.predictor(sklearn.linear_model.LinearRegression().fit(np.nan_to_num(X), Y), 6) is None


def test_early_stopping_uses_the_best_round():
    import xgboost
    estimator = xgboost.XGBRegressor(n_estimators=200, early_stopping_rounds=3, learning_rate=0.9)
    estimator.fit(X[:200], Y[:200], eval_set=[(X[200:], Y[200:] + rng.normal(size=100).astype(np.float32) * 5)],
                  verbose=False)
    assert estimator.best_iteration < 199
    one_row = single_row.predictor(estimator, X.shape[1])
    np.testing.assert_array_equal(np.float32([one_row(r) for r in X[:50].tolist()]),
                                  estimator.predict(X[:50]).astype(np.float32))


def test_other_library_versions_keep_the_estimators_own_predict(monkeypatch):
    """The ctypes paths run only with the releases they were tested with."""
    import lightgbm
    import xgboost
    assert single_row.TESTED["xgboost"] == xgboost.__version__[:4]  # the pinned releases, as tested here
    assert single_row.TESTED["lightgbm"] == lightgbm.__version__[:4]
    for make in (lambda: xgboost.XGBRegressor(n_estimators=5, n_jobs=1),
                 lambda: lightgbm.LGBMRegressor(n_estimators=5, n_jobs=1, verbose=-1)):
        estimator = _fitted(make, "reg")
        assert single_row.predictor(estimator, X.shape[1]) is not None
        library = type(estimator).__module__.partition(".")[0]
        monkeypatch.setitem(single_row.TESTED, library, "0.0.")
        assert single_row.predictor(estimator, X.shape[1]) is None


def test_predict_first_without_the_fast_path_uses_the_estimator():
    """pgml.predict_fast_path = off: the one-row path is not called at all."""
    import xgboost
    from pgml_py.ml.predict import Deployed
    estimator = _fitted(lambda: xgboost.XGBRegressor(n_estimators=5, n_jobs=1), "reg")
    model = Deployed(estimator, "regression", X.shape[1], None)

    def refuse(values):
        raise AssertionError("the fast path ran")
    row = [float(v) for v in np.nan_to_num(X[0])]
    expected = float(estimator.predict(np.asarray([row], dtype=np.float32))[0])
    fast = model.predict_first(row)
    model.one_row = refuse
    assert model.predict_first(row, fast=lambda: False) == pytest.approx(expected, rel=1e-6)
    assert fast == pytest.approx(expected, rel=1e-6)
