"""Model storage that cannot run code: fitted estimators as (path, bytes) files for pgml.files.

    estimator.xgb.json + estimator.ubj       XGBoost UBJSON booster + wrapper class
    estimator.lgb.json + estimator.lgb.txt   LightGBM model text + wrapper class, objective, classes
    estimator.cbm.json + estimator.cbm       CatBoost binary model + wrapper class
    estimator.skops                          scikit-learn through skops
    estimator.birch.skops                    Birch's params and predict state (skops refuses
                                             its CF tree, which only partial_fit needs)
    multioutput.json + <i>/<file>            MultiOutputRegressor of the native formats above

Native formats are parsed, never executed. A skops archive reaches skops only when every
type, node kind and protocol it names is in TRUSTED_TYPES / _SKOPS_TRUSTED (skops alone also
trusts every sklearn estimator and ufunc). After loading, arrays that sklearn's compiled
predict indexes unchecked are bounds checked, so an altered row cannot crash the backend.
"""
import io
import json
import os
import sys
import tempfile
import zipfile

import numpy as np

from .. import errors

_TRUSTED = {
    "builtins": "dict list tuple str",
    "numpy": "ndarray dtype int64 uint64 float32 float64",
    "numpy.random._generator": "Generator",
    "numpy.random.mtrand": "RandomState",
    "sklearn._loss._loss": "CyAbsoluteError CyExponentialLoss CyHalfBinomialLoss CyHuberLoss"
                           " CyHalfGammaLoss CyHalfMultinomialLoss CyHalfPoissonLoss"
                           " CyHalfSquaredError CyPinballLoss",
    "sklearn._loss.link": "HalfLogitLink IdentityLink Interval LogLink LogitLink MultinomialLogit",
    "sklearn._loss.loss": "AbsoluteError ExponentialLoss HalfBinomialLoss HalfGammaLoss HuberLoss"
                          " HalfMultinomialLoss HalfPoissonLoss HalfSquaredError PinballLoss",
    "sklearn.cluster._affinity_propagation": "AffinityPropagation",
    "sklearn.cluster._kmeans": "KMeans MiniBatchKMeans",
    "sklearn.cluster._mean_shift": "MeanShift",
    "sklearn.decomposition._pca": "PCA",
    "sklearn.dummy": "DummyClassifier DummyRegressor",
    "sklearn.ensemble._bagging": "BaggingClassifier BaggingRegressor",
    "sklearn.ensemble._forest": "ExtraTreesClassifier ExtraTreesRegressor RandomForestClassifier"
                                " RandomForestRegressor",
    "sklearn.ensemble._gb": "GradientBoostingClassifier GradientBoostingRegressor",
    "sklearn.ensemble._hist_gradient_boosting.binning": "_BinMapper",
    "sklearn.ensemble._hist_gradient_boosting.gradient_boosting":
        "HistGradientBoostingClassifier HistGradientBoostingRegressor",
    "sklearn.ensemble._hist_gradient_boosting.predictor": "TreePredictor",
    "sklearn.ensemble._weight_boosting": "AdaBoostClassifier AdaBoostRegressor",
    "sklearn.gaussian_process._gpc": "GaussianProcessClassifier"
                                     " _BinaryGaussianProcessClassifierLaplace",
    "sklearn.gaussian_process._gpr": "GaussianProcessRegressor",
    "sklearn.gaussian_process.kernels": "ConstantKernel Product RBF",
    "sklearn.impute._base": "SimpleImputer",
    "sklearn.kernel_ridge": "KernelRidge",
    "sklearn.linear_model._base": "LinearRegression",
    "sklearn.linear_model._bayes": "ARDRegression BayesianRidge",
    "sklearn.linear_model._coordinate_descent": "ElasticNet Lasso",
    "sklearn.linear_model._huber": "HuberRegressor",
    "sklearn.linear_model._least_angle": "Lars LassoLars",
    "sklearn.linear_model._logistic": "LogisticRegression",
    "sklearn.linear_model._omp": "OrthogonalMatchingPursuit",
    "sklearn.linear_model._passive_aggressive": "PassiveAggressiveClassifier"
                                                " PassiveAggressiveRegressor",
    "sklearn.linear_model._perceptron": "Perceptron",
    "sklearn.linear_model._quantile": "QuantileRegressor",
    "sklearn.linear_model._ransac": "RANSACRegressor",
    "sklearn.linear_model._ridge": "Ridge RidgeClassifier",
    "sklearn.linear_model._sgd_fast": "Hinge ModifiedHuber SquaredHinge",
    "sklearn.linear_model._stochastic_gradient": "SGDClassifier SGDRegressor",
    "sklearn.linear_model._theil_sen": "TheilSenRegressor",
    "sklearn.multiclass": "OneVsRestClassifier",
    "sklearn.multioutput": "MultiOutputRegressor",
    "sklearn.pipeline": "Pipeline",
    "sklearn.preprocessing._data": "MaxAbsScaler MinMaxScaler RobustScaler StandardScaler",
    "sklearn.preprocessing._label": "LabelBinarizer LabelEncoder",
    "sklearn.svm._classes": "LinearSVC LinearSVR NuSVC NuSVR SVC SVR",
    "sklearn.tree._classes": "DecisionTreeClassifier DecisionTreeRegressor ExtraTreeClassifier"
                             " ExtraTreeRegressor",
    "sklearn.tree._tree": "Tree",
}
# Classes only; no function, method, partial or operator may be named in a stored model.
TRUSTED_TYPES = frozenset("%s.%s" % (m, n) for m, names in _TRUSTED.items() for n in names.split())
# The skops node kinds, and the protocol that picks their implementations, that dump writes.
_SKOPS_TRUSTED = frozenset(["skops:protocol 2"] + ["skops:" + k for k in (
    "DictNode JsonNode ListNode TupleNode NdArrayNode ObjectNode TypeNode TreeNode LossNode"
    " RandomStateNode RandomGeneratorNode DTypeNode").split()])
_NATIVE = {"xgboost": ("XGBRegressor", "XGBClassifier", "XGBRFRegressor", "XGBRFClassifier"),
           "lightgbm": ("LGBMRegressor", "LGBMClassifier"),
           "catboost": ("CatBoostRegressor", "CatBoostClassifier")}
_BIRCH_STATE = frozenset(("_n_features_out", "_subcluster_norms", "labels_", "n_features_in_",
                          "subcluster_centers_", "subcluster_labels_", "feature_names_in_"))
PATHS = ("estimator.skops", "estimator.birch.skops", "estimator.xgb.json", "estimator.ubj",
         "estimator.lgb.json", "estimator.lgb.txt", "estimator.cbm.json", "estimator.cbm",
         "multioutput.json")


def dump(estimator):
    """The files that store a fitted estimator, as [(path, bytes)]; parts are the caller's."""
    cls = type(estimator)
    name, library = cls.__name__, cls.__module__.split(".")[0]
    if name in _NATIVE.get(library, ()):
        return _dump_native(estimator, name, library)
    if name == "MultiOutputRegressor" and hasattr(estimator, "estimators_") and type(
            estimator.estimators_[0]).__module__.split(".")[0] in _NATIVE:   # joint, native
        inner = estimator.estimators_
        head = {"n_outputs": len(inner), "n_features_in": int(estimator.n_features_in_)}
        return [("multioutput.json", json.dumps(head).encode())] + [
            ("%d/%s" % (i, path), data) for i, est in enumerate(inner) for path, data in dump(est)]
    skops_io = _skops_io()
    path, obj = "estimator.skops", estimator
    if library == "sklearn" and name == "Birch":   # skops refuses Birch's CF tree
        path, obj = "estimator.birch.skops", {"params": estimator.get_params(deep=False), "state": {
            k: v for k, v in vars(estimator).items() if k in _BIRCH_STATE}}
    data = skops_io.dumps(obj)
    untrusted = _audit(data)
    if untrusted:
        raise errors.FeatureNotSupported(
            "%s cannot be stored safely" % name,
            detail="It holds objects outside the trusted types: %s." % ", ".join(sorted(untrusted)),
            hint="Use hyperparameters that do not pass functions or custom objects.")
    return [(path, data)]


def _dump_native(estimator, name, library):
    head = {"class": name}
    if library == "xgboost":
        return [("estimator.xgb.json", json.dumps(head).encode()),
                ("estimator.ubj", bytes(estimator.get_booster().save_raw("ubj")))]
    if library == "lightgbm":
        if not isinstance(estimator.objective_, str):
            raise errors.FeatureNotSupported("a custom LightGBM objective cannot be stored",
                                             hint="Pass objective as a name.")
        head["objective"] = estimator.objective_
        if name == "LGBMClassifier":
            classes = np.asarray(estimator.classes_)
            head.update(classes=classes.tolist(), classes_dtype=classes.dtype.str)
        text = estimator.booster_.model_to_string().encode()
        return [("estimator.lgb.json", json.dumps(head).encode()), ("estimator.lgb.txt", text)]
    with tempfile.TemporaryDirectory() as tmp:   # CatBoost writes its binary format to files
        estimator.save_model(os.path.join(tmp, "model.cbm"), format="cbm")
        with open(os.path.join(tmp, "model.cbm"), "rb") as f:
            return [("estimator.cbm.json", json.dumps(head).encode()), ("estimator.cbm", f.read())]


def load(files, *, model_id=None):
    """The estimator stored as files [(path, bytes)]; a damaged or altered file is an ERROR."""
    try:
        by_path = dict(files)
        if len(by_path) != len(files):
            raise ValueError("a path is stored twice")
        return _load(by_path)
    except errors.PgmlError as exc:
        raise _corrupted(model_id, exc.detail or exc.message) from exc
    except Exception as exc:  # any parser's failure on a bad file means the same thing
        raise _corrupted(model_id, "%s: %s" % (type(exc).__name__, exc)) from exc


def _corrupted(model_id, detail):
    return errors.DataCorrupted(
        "files of model %s in pgml.files are damaged or were altered" % (model_id or "?"),
        detail=detail,
        hint="Only pgml.train writes these rows: train the model again and deploy the new one.")


def _load(files):
    kind = frozenset(files)
    if "multioutput.json" in kind:
        from sklearn.base import clone
        from sklearn.multioutput import MultiOutputRegressor
        head = json.loads(files["multioutput.json"])
        n = head["n_outputs"]
        groups = [{p.split("/", 1)[1]: d for p, d in files.items() if p.startswith("%d/" % i)}
                  for i in range(n if isinstance(n, int) and 0 < n < len(files) else 0)]
        if not groups or sum(map(len, groups)) != len(files) - 1:
            raise ValueError("multioutput.json does not match the stored files")
        estimators = [_load(group) for group in groups]
        est = MultiOutputRegressor(clone(estimators[0]))
        est.estimators_, est.n_features_in_ = estimators, int(head["n_features_in"])
        return est
    if kind == {"estimator.skops"}:
        return _load_skops(files["estimator.skops"])
    if kind == {"estimator.birch.skops"}:
        from sklearn.cluster import Birch
        obj = _load_skops(files["estimator.birch.skops"])
        if not (isinstance(obj, dict) and set(obj) == {"params", "state"}
                and set(obj["state"]) <= _BIRCH_STATE):
            raise ValueError("estimator.birch.skops does not hold Birch's state")
        est = Birch().set_params(**obj["params"])
        for key, value in obj["state"].items():
            setattr(est, key, value)
        return est
    for library, head_path, data_path in (("xgboost", "estimator.xgb.json", "estimator.ubj"),
                                          ("lightgbm", "estimator.lgb.json", "estimator.lgb.txt"),
                                          ("catboost", "estimator.cbm.json", "estimator.cbm")):
        if kind == {head_path, data_path}:
            head = json.loads(files[head_path])
            if head.get("class") not in _NATIVE[library]:
                raise ValueError("%s names an unknown class" % head_path)
            return _LOADERS[library](head, files[data_path])
    raise ValueError("unknown set of model files: %s" % ", ".join(sorted(kind)))


def _load_xgboost(head, data):
    import xgboost
    est = getattr(xgboost, head["class"])()
    est.load_model(bytearray(data))   # a buffer is parsed as a model, never read as a path
    return est


def _load_lightgbm(head, data):
    import lightgbm
    booster = lightgbm.Booster(model_str=data.decode("utf-8"))
    est = getattr(lightgbm, head["class"])()
    # The wrapper's fitted state, as LGBMModel.fit leaves it (lightgbm 4.x).
    est._Booster, est.fitted_, est._objective = booster, True, str(head["objective"])
    est._n_features = est._n_features_in = booster.num_feature()
    est._best_iteration, est._best_score, est._evals_result = booster.best_iteration, {}, {}
    if head["class"] == "LGBMClassifier":
        from lightgbm.compat import _LGBMLabelEncoder
        dtype = np.dtype(head["classes_dtype"])
        if dtype.kind not in "biufU":
            raise ValueError("estimator.lgb.json has classes of dtype %s" % dtype)
        est._le = _LGBMLabelEncoder().fit(np.asarray(head["classes"], dtype=dtype))
        est._classes, est._n_classes = est._le.classes_, len(est._le.classes_)
    return est


def _load_catboost(head, data):
    import catboost
    return getattr(catboost, head["class"])().load_model(blob=bytes(data))


_LOADERS = {"xgboost": _load_xgboost, "lightgbm": _load_lightgbm, "catboost": _load_catboost}


class _NoTorch:
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] == "torch":
            raise ImportError("model storage does not import torch")


def _skops_io():
    """skops.io without torch: on import skops lists sklearn's estimators, which imports every
    sklearn package, sklearn.externals.array_api_compat.torch included."""
    if "skops.io" not in sys.modules and "torch" not in sys.modules:
        finder = _NoTorch()
        sys.meta_path.insert(0, finder)
        try:
            import skops.io
        finally:
            sys.meta_path.remove(finder)
    import skops.io
    return skops.io


def _schema_names(data):
    """Every type, node kind and protocol ("skops:...") a skops archive names; reads JSON only."""
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        for info in archive.infolist():   # dump stores uncompressed: no zip bombs
            if info.compress_type != zipfile.ZIP_STORED or info.file_size != info.compress_size:
                raise ValueError("%s is compressed" % info.filename)
        schema = json.loads(archive.read("schema.json"))
    names, stack = {"skops:protocol %r" % schema.get("protocol")}, [schema]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            if "__class__" in node or "__module__" in node:
                names.add("%s.%s" % (node.get("__module__"), node.get("__class__")))
            if "__loader__" in node:
                names.add("skops:%s" % node["__loader__"])
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return names


def _audit(data):
    """What a skops archive names beyond TRUSTED_TYPES and _SKOPS_TRUSTED."""
    return _schema_names(data) - TRUSTED_TYPES - _SKOPS_TRUSTED


def _load_skops(data):
    skops_io = _skops_io()
    untrusted = _audit(data)
    if untrusted:
        raise errors.PgmlError("untrusted types", detail="The stored model names types outside "
                               "the trusted list: %s." % ", ".join(sorted(untrusted)))
    obj = skops_io.loads(data, trusted=sorted(TRUSTED_TYPES))
    _check_bounds(obj)
    return obj


def _check_bounds(root):
    """Check what compiled predict code indexes without bounds checks: tree node links and
    features against the narrowest enclosing n_features_in_, libsvm and k-means shapes, and the
    output columns gradient boosting writes into."""
    from sklearn.ensemble import GradientBoostingClassifier, GradientBoostingRegressor
    from sklearn.ensemble._hist_gradient_boosting.predictor import TreePredictor
    from sklearn.tree._tree import Tree
    stack, seen, boosted = [(root, 1 << 62, None)], set(), []
    while stack:
        obj, width, cats = stack.pop()
        if (id(obj), width, id(cats)) in seen:   # a shared object is checked in every context
            continue
        seen.add((id(obj), width, id(cats)))
        if isinstance(obj, Tree):
            _check_links(obj.children_left, obj.children_right, obj.children_left == -1,
                         obj.feature, min(width, obj.n_features))
        elif isinstance(obj, TreePredictor):
            n = obj.nodes
            _check_links(n["left"], n["right"], n["is_leaf"] != 0, n["feature_idx"], width)
            cat = (n["is_leaf"] == 0) & (n["is_categorical"] != 0)
            if cat.any() and (cats is None or not np.all(np.asarray(cats)[n["feature_idx"][cat]])
                              or obj.raw_left_cat_bitsets.shape[1:] != (8,)
                              or n["bitset_idx"][cat].max() >= len(obj.raw_left_cat_bitsets)):
                raise ValueError("a categorical split is out of range")
        elif isinstance(obj, (list, tuple)):
            stack.extend((v, width, cats) for v in obj)
        elif isinstance(obj, dict):
            stack.extend((v, width, cats) for v in obj.values())
        elif isinstance(obj, np.ndarray) and obj.dtype == object:
            stack.extend((v, width, cats) for v in obj.flat)
        elif type(obj).__module__.startswith("sklearn.") and hasattr(obj, "__dict__"):
            state = vars(obj)
            if isinstance(state.get("n_features_in_"), (int, np.integer)):
                width = min(width, int(state["n_features_in_"]))
            _check_shapes(obj, state, width)
            mapper = state.get("_bin_mapper")
            cats = getattr(mapper, "is_categorical_", None) if mapper is not None else cats
            if isinstance(obj, (GradientBoostingClassifier, GradientBoostingRegressor)) \
                    and "estimators_" in state:
                boosted.append(obj)
            stack.extend((v, width, cats) for v in state.values())
    for gb in boosted:   # predict_stages adds tree k's output into column k unchecked
        trees = gb.estimators_
        if trees.ndim != 2 or gb._raw_predict_init(
                np.zeros((1, trees[0, 0].n_features_in_), np.float32)).shape[1:] != trees.shape[1:]:
            raise ValueError("gradient boosting trees do not match its outputs")


def _check_links(left, right, leaf, feature, width):
    idx = np.arange(len(left))
    inner = ~leaf
    ok = (np.all(left[inner] > idx[inner]) and np.all(right[inner] > idx[inner])
          and np.all(left[inner] < len(left)) and np.all(right[inner] < len(left))
          and np.all(feature[inner] >= 0) and np.all(feature[inner] < width))
    if not ok:
        raise ValueError("a tree links to a node or feature out of range")


def _check_shapes(obj, state, width):
    if "_n_support" in state and "support_vectors_" in state:   # libsvm's set_model trusts these
        k, sv = len(state["_n_support"]), state["support_vectors_"]
        m = k * (k - 1) // 2
        ok = (k >= 2 and sv.ndim == 2 and len(state["support_"]) == sv.shape[0]
              and np.all(state["_n_support"] >= 0)
              and state["_dual_coef_"].shape == (k - 1, sv.shape[0])
              and len(state["_intercept_"]) == m
              and len(state.get("_probA", ())) in (0, m) and len(state.get("_probB", ())) in (0, m))
        if state.get("kernel") == "precomputed":
            ok = ok and np.all((state["support_"] >= 0) & (state["support_"] < width))
        else:
            ok = ok and sv.shape[1] == width
        if ok and getattr(obj, "_impl", None) in ("c_svc", "nu_svc"):
            ok = int(np.sum(state["_n_support"])) == sv.shape[0]
        if not ok:
            raise ValueError("support vector arrays do not match")
    centers = state.get("cluster_centers_")
    if isinstance(centers, np.ndarray) and (centers.ndim != 2 or centers.shape[1] != width):
        raise ValueError("cluster centers do not match n_features_in_")
