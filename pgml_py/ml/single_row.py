"""One-row predictions through each library's fastest path. pgml.predict runs once per row of a
query, and for one row the Python wrappers' per-call work (argument checks, JSON, a new proxy
matrix, thread setup) costs many times the trees themselves:

    XGBoost   XGBRegressor.predict 175 us, Booster.inplace_predict 135 us; the same C call
              (XGBoosterPredictFromDense) with its proxy matrix, input buffer and JSON arguments
              made once: 30 us.
    LightGBM  LGBMRegressor.predict 270 us; LGBM_BoosterPredictForMatSingleRowFast, the C API
              LightGBM made for this, with its config made once: 2 us.
    forests   RandomForestRegressor.predict (100 trees) 3.6 ms, most of it joblib and input
              checks per tree; the trees' own Tree.predict summed in the forest's order: 0.3 ms.

predictor(estimator, num_features) gives a callable values -> the estimator's predict() of one row (a
float: the value, or the class the estimator would return), or None where there is no such path;
tests/unit/test_single_row.py holds each to the estimator's own predict.

The XGBoost and LightGBM paths call C functions through ctypes with pointers into the library's
objects: a library whose internals changed could crash the backend, and with it every session.
They run only with the library versions they were tested with (TESTED, the releases pinned in
requirements.txt), and pgml.predict_fast_path = off turns every one of them off."""
import ctypes
import json
import sys

import numpy as np

# library module -> the release series these paths were tested with
TESTED = {"xgboost": "3.2.", "lightgbm": "4.7.", "sklearn": "1.9."}


def tested(library):
    """True when the imported library's version is one these paths were tested with."""
    module, series = sys.modules.get(library), TESTED.get(library)
    return module is not None and series is not None and str(getattr(module, "__version__", "")).startswith(series)


def predictor(estimator, num_features):
    """num_features is the catalog's; a model trained on another width keeps its own predict,
    which checks the width (these paths read a row of num_features values unchecked)."""
    module = type(estimator).__module__
    if getattr(estimator, "n_features_in_", num_features) != num_features:
        return None
    if not tested(module.partition(".")[0]):
        return None
    try:
        if module.startswith("xgboost"):
            return XGBoostRow(estimator, num_features)
        if module.startswith("lightgbm"):
            return LightGBMRow(estimator, num_features)
        if type(estimator).__name__ in FOREST_CLASSES and module.startswith("sklearn."):
            return ForestRow(estimator, num_features)
    except (NotFast, AttributeError):   # AttributeError: a library version without these C entry points
        pass
    return None


class NotFast(Exception):
    """The model is of a kind the fast path does not cover: use the estimator's predict."""


def _decide(outputs, is_classifier):
    """What the sklearn-style predict makes of the output row: the value, or the class index
    (probability of class 1 above 0.5; else the most probable class, the first on ties)."""
    if not is_classifier:
        return float(outputs[0])
    if len(outputs) == 1:
        return 1 if outputs[0] > 0.5 else 0
    return int(np.argmax(outputs))


class XGBoostRow:
    def __init__(self, estimator, num_features):
        import xgboost
        from xgboost import core
        self.booster = estimator.get_booster()   # keeps the handle alive
        learner = json.loads(self.booster.save_config())["learner"]
        is_classifier = isinstance(estimator, xgboost.XGBClassifier)
        if learner["gradient_booster"]["name"] == "gblinear" or (
                is_classifier and learner["objective"]["name"] not in ("binary:logistic", "multi:softprob")):
            raise NotFast()   # no inplace predict, or a classifier output this module does not decide
        try:
            end = estimator.best_iteration + 1   # as XGBModel.predict: early stopping's best round
        except AttributeError:
            end = 0
        self.is_classifier = is_classifier
        self.lib, self.check = core._LIB, core._check_call
        self.proxy = core._ProxyDMatrix()        # reused: a new one per call costs 25 us
        self.row = np.zeros((1, num_features), dtype=np.float32)
        self.interface = json.dumps(self.row.__array_interface__).encode()
        missing = float("nan") if estimator.missing is None else float(estimator.missing)
        self.args = json.dumps(dict(type=0, training=False, iteration_begin=0, iteration_end=end,
                                    missing=missing, strict_shape=False, cache_id=0)).encode()
        self.shape = ctypes.POINTER(ctypes.c_uint64)()
        self.dims = ctypes.c_uint64()
        self.out = ctypes.POINTER(ctypes.c_float)()

    def __call__(self, values):
        self.row[0] = values
        self.check(self.lib.XGBoosterPredictFromDense(
            self.booster.handle, self.interface, self.args, self.proxy.handle,
            ctypes.byref(self.shape), ctypes.byref(self.dims), ctypes.byref(self.out)))
        size = 1
        for i in range(self.dims.value):
            size *= self.shape[i]
        return _decide(self.out[:size], self.is_classifier)


class LightGBMRow:
    C_API_PREDICT_NORMAL, C_API_DTYPE_FLOAT32 = 0, 0

    def __init__(self, estimator, num_features):
        import lightgbm
        from lightgbm import basic
        self.booster = estimator.booster_                # keeps the handle alive
        self.is_classifier = isinstance(estimator, lightgbm.LGBMClassifier)
        self.classes = estimator.classes_ if self.is_classifier else None
        self.lib, self.check = basic._LIB, basic._safe_call
        best = self.booster.best_iteration
        self.config = ctypes.c_void_p()
        self.check(self.lib.LGBM_BoosterPredictForMatSingleRowFastInit(
            self.booster._handle, ctypes.c_int(self.C_API_PREDICT_NORMAL), ctypes.c_int(0),
            ctypes.c_int(best if best > 0 else -1), ctypes.c_int(self.C_API_DTYPE_FLOAT32),
            ctypes.c_int32(num_features), b"num_threads=1", ctypes.byref(self.config)))
        self.row = np.zeros(num_features, dtype=np.float32)
        self.out = np.zeros(max(1, self.booster.num_model_per_iteration()), dtype=np.float64)
        self.out_len = ctypes.c_int64()
        self.row_ptr = self.row.ctypes.data_as(ctypes.c_void_p)
        self.out_ptr = self.out.ctypes.data_as(ctypes.POINTER(ctypes.c_double))

    def __call__(self, values):
        self.row[:] = values
        self.check(self.lib.LGBM_BoosterPredictForMatSingleRowFast(
            self.config, self.row_ptr, ctypes.byref(self.out_len), self.out_ptr))
        decided = _decide(self.out[:self.out_len.value], self.is_classifier)
        return decided if self.classes is None else self.classes[decided].item()

    def __del__(self):
        if getattr(self, "config", None) and self.config.value:
            self.lib.LGBM_FastConfigFree(self.config)


FOREST_CLASSES = ("RandomForestRegressor", "ExtraTreesRegressor", "RandomForestClassifier", "ExtraTreesClassifier")


class ForestRow:
    """ForestRegressor.predict / ForestClassifier.predict of one row without joblib and the per
    tree input checks: the same per-tree predictions added in the same order (float64), divided
    by the number of trees; classifiers take the trees' predict_proba, as sklearn does."""

    def __init__(self, estimator, num_features):
        if getattr(estimator, "n_outputs_", 1) != 1:
            raise NotFast()
        self.trees = list(estimator.estimators_)
        self.classes = getattr(estimator, "classes_", None)
        self.row = np.zeros((1, num_features), dtype=np.float32)   # the trees' own dtype

    def __call__(self, values):
        self.row[0] = values
        if self.classes is None:
            total = np.zeros(1, dtype=np.float64)
            for tree in self.trees:
                total += tree.tree_.predict(self.row)[:, 0]
            return float(total[0] / len(self.trees))
        total = np.zeros((1, len(self.classes)), dtype=np.float64)
        for tree in self.trees:
            total += tree.predict_proba(self.row, check_input=False)
        total /= len(self.trees)
        return self.classes[int(np.argmax(total[0]))].item()
