"""pgml_py/ml/preprocess.py against numpy / scikit-learn, without a database."""
import copy

import numpy as np
import pytest
from sklearn.preprocessing import MaxAbsScaler, MinMaxScaler, RobustScaler, StandardScaler

from pgml_py import errors
from pgml_py.ml import preprocess

NAN = np.nan


def numeric(name="n", size=1, array=False):
    return {"name": name, "size": size, "array": array, "label": False, "statistics": {}}


def text(name="c", categories=("red", "blue", "green"), members=(3, 2, 1), nulls=1):
    cats = {"__NULL__": {"value": 0, "members": nulls}}
    cats.update({k: {"value": i + 1, "members": m} for i, (k, m) in enumerate(zip(categories, members))})
    return {"name": name, "size": 1, "array": False, "label": False, "statistics": {"categories": cats}}


RAW = np.array([[1.0], [4.0], [NAN], [2.0], [10.0], [NAN], [7.0]])  # 5 train rows, 2 test


@pytest.mark.parametrize("how,expected", [
    ("mean", np.mean([1, 4, 2, 10])), ("median", np.median([1, 4, 2, 10])), ("min", 1.0), ("max", 10.0),
    ("zero", 0.0)])
def test_impute_numeric(how, expected):
    X, names = preprocess.fit([numeric()], RAW, 5, None, {"n": {"impute": how}})
    assert names == ["n"]
    assert X[2, 0] == pytest.approx(expected) and X[5, 0] == pytest.approx(expected)
    assert X[6, 0] == 7.0 and X.dtype == np.float32


def test_impute_mode_picks_most_frequent_smallest_on_ties():
    X, _ = preprocess.fit([numeric()], np.array([[3.0], [2.0], [3.0], [2.0], [NAN]]), 5, None, {"n": {"impute": "mode"}})
    assert X[4, 0] == 2.0


def test_default_impute_error_names_the_column():
    with pytest.raises(errors.NullValueNotAllowed) as e:
        preprocess.fit([numeric("age")], RAW, 5, None, {})
    assert '"age"' in e.value.message and e.value.hint
    with pytest.raises(errors.NullValueNotAllowed):
        preprocess.fit([text()], np.array([[1.0], [0.0], [2.0]]), 3, None, None)


@pytest.mark.parametrize("how,scaler", [("standard", StandardScaler), ("min_max", MinMaxScaler),
                                        ("max_abs", MaxAbsScaler), ("robust", RobustScaler)])
def test_scalers_match_sklearn(how, scaler):
    rng = np.random.default_rng(0)
    X = rng.normal(3, 2, size=(40, 1)).astype(np.float32)
    got, _ = preprocess.fit([numeric()], X, 30, None, {"n": {"scale": how}})
    ref = scaler().fit(X[:30].astype(np.float64))
    assert np.allclose(got, ref.transform(X.astype(np.float64)), atol=1e-5)


def test_array_columns_impute_and_scale_per_element():
    col = numeric("v", size=2, array=True)
    X = np.array([[1, 10], [3, NAN], [5, 30], [NAN, 40]], dtype=np.float32)
    got, names = preprocess.fit([col], X, 4, None, {"v": {"impute": "mean", "scale": "standard"}})
    filled = np.array([[1, 10], [3, 80 / 3], [5, 30], [3, 40]], dtype=np.float64)
    assert names == ["v[0]", "v[1]"]
    assert np.allclose(got, StandardScaler().fit_transform(filled), atol=1e-5)


def test_one_hot_drops_the_first_category_and_unseen_is_nan_or_imputed():
    codes = np.array([[1], [2], [3], [1], [NAN]], dtype=np.float32)   # red blue green red | unseen
    cols = [text(nulls=0, members=(2, 1, 1))]
    got, names = preprocess.fit(cols, codes, 4, None, {"c": {"encode": "one_hot"}})
    assert names == ["c=blue", "c=green"]
    assert got[:4].tolist() == [[0, 0], [1, 0], [0, 1], [0, 0]] and np.isnan(got[4]).all()
    got, _ = preprocess.fit([text(nulls=1, members=(2, 1, 1))], np.vstack([codes, [[0]]]), 4, None,
                            {"c": {"encode": "one_hot", "impute": "mode"}})
    assert got[4].tolist() == [0, 0] and got[5].tolist() == [0, 0]   # the mode, red


def test_ordinal_is_position_plus_one():
    codes = np.array([[1], [2], [3], [0]], dtype=np.float32)
    got, _ = preprocess.fit([text()], codes, 3, None,
                            {"c": {"encode": {"ordinal": ["green", "blue", "red"]}, "impute": "max"}})
    assert got[:, 0].tolist() == [3, 2, 1, 3]
    with pytest.raises(errors.InvalidParameter) as e:
        preprocess.fit([text()], codes, 3, None, {"c": {"encode": {"ordinal": ["red"]}, "impute": "zero"}})
    assert "blue" in e.value.message


def test_target_is_mean_label_per_category_and_mean_impute():
    codes = np.array([[1], [2], [1], [3], [0], [2]], dtype=np.float32)
    y = np.array([1.0, 10.0, 3.0, 5.0, 100.0])
    got, _ = preprocess.fit([text()], codes, 5, y, {"c": {"encode": "target", "impute": "mean", "scale": "min_max"}})
    enc = np.array([2.0, 10.0, 2.0, 5.0, NAN, 10.0])
    enc[4] = np.mean(enc[:4])   # the mean of the encoded training values
    assert np.allclose(got[:, 0], (enc - 2.0) / 8.0)
    with pytest.raises(errors.InvalidParameter):   # unsupervised
        preprocess.fit([text()], codes, 5, None, {"c": {"encode": "target", "impute": "zero"}})


def test_transform_reuses_the_fitted_statistics():
    cols = [text(), numeric()]
    X = np.array([[1, 1.0], [2, NAN], [0, 3.0], [3, 5.0]], dtype=np.float32)
    spec = {"c": {"encode": "one_hot", "impute": "mode", "scale": "max_abs"}, "n": {"impute": "median", "scale": "robust"}}
    fitted, _ = preprocess.fit(cols, X, 4, None, spec)
    again = preprocess.transform(copy.deepcopy(cols), X[1:3])
    assert np.allclose(fitted[1:3], again)
    with pytest.raises(errors.NullValueNotAllowed):
        cols[1]["preprocessor"]["impute"] = "error"
        preprocess.transform(cols, X[1:2], check_missing=True)


@pytest.mark.parametrize("spec,text_", [
    ({"nope": {}}, "not a feature column"), ({"n": {"colour": "x"}}, "unknown preprocess option"),
    ({"n": {"scale": "huge"}}, "invalid preprocess scale"), ({"n": {"impute": "avg"}}, "invalid preprocess impute"),
    ({"c": {"encode": "hash"}}, "invalid preprocess encode"), ({"c": {"encode": {"ordinal": "x"}}}, "invalid"),
    ({"n": {"encode": "one_hot"}}, "encode must be native"), ({"c": {"impute": "mean"}}, "needs encode target"),
    ({"n": "mean"}, "must be a JSON object"), ([], "must be a JSON object")])
def test_bad_options_are_errors(spec, text_):
    with pytest.raises(errors.InvalidParameter) as e:
        preprocess.parse(spec, [text(), numeric()])
    assert text_ in e.value.message and e.value.sqlstate == "22023" and e.value.hint
