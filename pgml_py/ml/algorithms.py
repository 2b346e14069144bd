"""The algorithm registry of PostgresML 2.10 (docs/reference.md lists it): each supported (algorithm, task) pair maps to a factory
that builds the estimator with the user's hyperparams as constructor kwargs.

Libraries are imported inside the factories, so importing this module, listing algorithms or
reporting an unsupported pair imports no sklearn, xgboost, lightgbm or catboost.
"""
import contextlib
import importlib
import inspect
import re
import warnings
from dataclasses import dataclass

from .. import errors

# pgml.task and pgml.algorithm labels, in enum order.
TASKS = ("regression", "classification", "decomposition", "clustering", "question_answering",
         "summarization", "translation", "text_classification", "text_generation", "text2text",
         "embedding", "text_pair_classification", "conversation")
ALGORITHMS = (
    "linear", "xgboost", "xgboost_random_forest", "svm", "lasso", "elastic_net", "ridge", "kmeans",
    "dbscan", "knn", "random_forest", "least_angle", "lasso_least_angle",
    "orthogonal_matching_pursuit", "bayesian_ridge", "automatic_relevance_determination",
    "stochastic_gradient_descent", "perceptron", "passive_aggressive", "ransac", "theil_sen",
    "huber", "quantile", "kernel_ridge", "gaussian_process", "nu_svm", "ada_boost", "bagging",
    "extra_trees", "gradient_boosting_trees", "hist_gradient_boosting", "linear_svm", "lightgbm",
    "transformers", "affinity_propagation", "birch", "feature_agglomeration", "mini_batch_kmeans",
    "mean_shift", "optics", "spectral", "spectral_bi", "spectral_co", "catboost", "pca")
# pgml.train accepts every task but embedding; only these have algorithms here.
TRAINABLE_TASKS = tuple(t for t in TASKS if t != "embedding")
# What `linear` (train's default algorithm) means for the unsupervised tasks.
LINEAR_MEANS = {"clustering": "kmeans", "decomposition": "pca"}

# Thread-count keyword of each library, then the aliases a user may pass instead.
N_JOBS = ("n_jobs",)
XGBOOST_THREADS = ("n_jobs", "nthread")
LIGHTGBM_THREADS = ("n_jobs", "num_threads", "num_thread", "nthread", "nthreads")
CATBOOST_THREADS = ("thread_count",)


@dataclass(frozen=True)
class Factory:
    """Builds one estimator class, imported on first use.

    threads: the constructor keyword that takes pgml.omp_num_threads, then its aliases; empty
      where the estimator has none, or where it would mean joblib processes at predict time.
    defaults: ((keyword, *aliases), value) pairs, set unless the hyperparams name an alias.
    single_output: fits one label only, so joint regression wraps it in MultiOutputRegressor.
    multi_target: defaults added for joint regression (catboost needs a multi-target loss).
    """
    module: str
    name: str
    threads: tuple = ()
    defaults: tuple = ()
    single_output: bool = False
    multi_target: tuple = ()

    def load(self):
        return getattr(importlib.import_module(self.module), self.name)

    def __call__(self, **kwargs):
        with _quiet():
            return self.load()(**kwargs)


@contextlib.contextmanager
def _quiet():
    """sklearn 1.8 deprecated PassiveAggressive* (warned on every construction, clones
    included); PostgresML 2.10 keeps them, so the warning would only fill the server log."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Class PassiveAggressive", category=FutureWarning)
        yield


def _sk(module, name, **options):
    return Factory("sklearn." + module, name, **options)


_XGB = dict(threads=XGBOOST_THREADS)
_LGBM = dict(threads=LIGHTGBM_THREADS, defaults=((("verbose", "verbosity"), -1),))
# catboost writes catboost_info/ into the CWD (the server's data directory) unless told not to,
# and prints every iteration; only one of its verbosity keywords may be given.
_CATBOOST = dict(threads=CATBOOST_THREADS, defaults=(
    (("verbose", "logging_level", "silent", "verbose_eval"), False),
    (("allow_writing_files",), False)))

# The registry: (algorithm, task) -> Factory. Exactly PostgresML 2.10's pairs.
REGISTRY = {}
REGISTRY.update({(algorithm, "regression"): factory for algorithm, factory in {
    "linear": _sk("linear_model", "LinearRegression", threads=N_JOBS),
    "ridge": _sk("linear_model", "Ridge"),
    "lasso": _sk("linear_model", "Lasso"),
    "elastic_net": _sk("linear_model", "ElasticNet"),
    "least_angle": _sk("linear_model", "Lars"),
    "lasso_least_angle": _sk("linear_model", "LassoLars"),
    "orthogonal_matching_pursuit": _sk("linear_model", "OrthogonalMatchingPursuit"),
    "bayesian_ridge": _sk("linear_model", "BayesianRidge", single_output=True),
    "automatic_relevance_determination": _sk("linear_model", "ARDRegression", single_output=True),
    "kernel_ridge": _sk("kernel_ridge", "KernelRidge"),
    "svm": _sk("svm", "SVR", single_output=True),
    "nu_svm": _sk("svm", "NuSVR", single_output=True),
    "linear_svm": _sk("svm", "LinearSVR", single_output=True),
    "stochastic_gradient_descent": _sk("linear_model", "SGDRegressor", single_output=True),
    "passive_aggressive": _sk("linear_model", "PassiveAggressiveRegressor", single_output=True),
    "ransac": _sk("linear_model", "RANSACRegressor"),
    "theil_sen": _sk("linear_model", "TheilSenRegressor", threads=N_JOBS, single_output=True),
    "huber": _sk("linear_model", "HuberRegressor", single_output=True),
    "quantile": _sk("linear_model", "QuantileRegressor", single_output=True),
    "gaussian_process": _sk("gaussian_process", "GaussianProcessRegressor"),
    "ada_boost": _sk("ensemble", "AdaBoostRegressor", single_output=True),
    # Bagging predicts through joblib's default (process) backend: never give it n_jobs.
    "bagging": _sk("ensemble", "BaggingRegressor"),
    "extra_trees": _sk("ensemble", "ExtraTreesRegressor", threads=N_JOBS),
    "random_forest": _sk("ensemble", "RandomForestRegressor", threads=N_JOBS),
    "gradient_boosting_trees": _sk("ensemble", "GradientBoostingRegressor", single_output=True),
    # Not in PostgresML's joint-regression list, but sklearn 1.9's HistGradientBoostingRegressor takes one label.
    "hist_gradient_boosting": _sk("ensemble", "HistGradientBoostingRegressor", single_output=True),
    "xgboost": Factory("xgboost", "XGBRegressor", **_XGB),
    "xgboost_random_forest": Factory("xgboost", "XGBRFRegressor", **_XGB),
    "lightgbm": Factory("lightgbm", "LGBMRegressor", single_output=True, **_LGBM),
    "catboost": Factory("catboost", "CatBoostRegressor", **_CATBOOST,
                        multi_target=((("loss_function", "objective"), "MultiRMSE"),)),
}.items()})
REGISTRY.update({(algorithm, "classification"): factory for algorithm, factory in {
    # LogisticRegression's n_jobs has no effect since sklearn 1.8 (and warns).
    "linear": _sk("linear_model", "LogisticRegression"),
    "perceptron": _sk("linear_model", "Perceptron", threads=N_JOBS),
    "svm": _sk("svm", "SVC"),
    "nu_svm": _sk("svm", "NuSVC"),
    "linear_svm": _sk("svm", "LinearSVC"),
    "ridge": _sk("linear_model", "RidgeClassifier"),
    "stochastic_gradient_descent": _sk("linear_model", "SGDClassifier", threads=N_JOBS),
    "passive_aggressive": _sk("linear_model", "PassiveAggressiveClassifier", threads=N_JOBS),
    "gaussian_process": _sk("gaussian_process", "GaussianProcessClassifier", threads=N_JOBS),
    "ada_boost": _sk("ensemble", "AdaBoostClassifier"),
    "bagging": _sk("ensemble", "BaggingClassifier"),
    "extra_trees": _sk("ensemble", "ExtraTreesClassifier", threads=N_JOBS),
    "random_forest": _sk("ensemble", "RandomForestClassifier", threads=N_JOBS),
    "gradient_boosting_trees": _sk("ensemble", "GradientBoostingClassifier"),
    "hist_gradient_boosting": _sk("ensemble", "HistGradientBoostingClassifier"),
    "xgboost": Factory("xgboost", "XGBClassifier", **_XGB),
    "xgboost_random_forest": Factory("xgboost", "XGBRFClassifier", **_XGB),
    "lightgbm": Factory("lightgbm", "LGBMClassifier", **_LGBM),
    "catboost": Factory("catboost", "CatBoostClassifier", **_CATBOOST),
}.items()})
REGISTRY.update({
    ("affinity_propagation", "clustering"): _sk("cluster", "AffinityPropagation"),
    ("birch", "clustering"): _sk("cluster", "Birch"),
    ("kmeans", "clustering"): _sk("cluster", "KMeans"),
    ("mini_batch_kmeans", "clustering"): _sk("cluster", "MiniBatchKMeans"),
    ("mean_shift", "clustering"): _sk("cluster", "MeanShift", threads=N_JOBS),
    ("pca", "decomposition"): _sk("decomposition", "PCA"),
})


def supported_algorithms(task):
    """The algorithms that train `task`, in pgml.algorithm order."""
    task = normalize_task(task)
    return [a for a in ALGORITHMS if (a, task) in REGISTRY]


def normalize_task(task):
    """A pgml.task label from `task`, with `-` or `_` in multi-word names."""
    label = task.replace("-", "_") if isinstance(task, str) else None
    if label not in TRAINABLE_TASKS:
        got = "NULL" if task is None else '"%s"' % task
        hint = ("pgml.embed computes embeddings without training." if label == "embedding"
                else "Use a pgml.task label; multi-word names take - or _.")
        raise errors.bad_argument("task", "one of " + ", ".join(TRAINABLE_TASKS), got, hint=hint)
    return label


def resolve(algorithm, task):
    """(algorithm, task) normalized: `linear` becomes kmeans/pca for the unsupervised tasks;
    a pair without a factory is an InvalidParameter error whose hint lists the task's algorithms."""
    task = normalize_task(task)
    if algorithm not in ALGORITHMS:
        raise errors.bad_argument("algorithm", "a pgml.algorithm label",
                                  "NULL" if algorithm is None else '"%s"' % algorithm,
                                  hint=_supported_hint(task))
    if algorithm == "linear":
        algorithm = LINEAR_MEANS.get(task, algorithm)
    if (algorithm, task) not in REGISTRY:
        raise errors.InvalidParameter("%s does not support %s" % (algorithm, task),
                                      hint=_supported_hint(task))
    return algorithm, task


def _supported_hint(task):
    names = supported_algorithms(task)
    if not names:
        return "No pgml.algorithm trains %s: fine-tune a Hugging Face model with pgml.tune." % task
    return "Algorithms that support %s: %s." % (task, ", ".join(names))


def build(algorithm, task, hyperparams=None, *, n_threads=1, n_targets=1):
    """A new, unfitted estimator for (algorithm, task) with `hyperparams` as constructor kwargs.

    n_threads (pgml.omp_num_threads) becomes the library's thread count unless the hyperparams
    set it; n_targets > 1 (joint regression) wraps single-output estimators in
    MultiOutputRegressor and gives catboost its multi-target loss.
    """
    algorithm, task = resolve(algorithm, task)
    if hyperparams is None:
        hyperparams = {}
    if not isinstance(hyperparams, dict):
        raise errors.bad_argument("hyperparams", "a JSON object", type(hyperparams).__name__,
                                  hint='Pass hyperparams like \'{"n_estimators": 20}\'.')
    if isinstance(n_threads, bool) or not isinstance(n_threads, int) or n_threads < 1:
        raise errors.bad_argument("n_threads", "an integer >= 1", repr(n_threads))
    factory = REGISTRY[(algorithm, task)]
    joint = task == "regression" and n_targets > 1
    defaults = factory.defaults + (factory.multi_target if joint else ())
    if factory.threads:
        defaults += ((factory.threads, n_threads),)
    kwargs = dict(hyperparams)
    for names, value in defaults:
        if not any(name in hyperparams for name in names):
            kwargs[names[0]] = value
    try:
        cls = factory.load()
    except ImportError as exc:
        raise errors.MissingDependency(
            "%s needs the Python package %s, which is not installed"
            % (algorithm, exc.name or factory.module.split(".")[0]),
            hint="Install the packages of requirements.txt into the venv pgml.venv names.") from exc
    try:
        estimator = factory(**kwargs)
        if factory.module.startswith("sklearn."):
            # The checks sklearn's fit would run first: report bad values before any data is read.
            estimator._validate_params()
    except Exception as exc:
        raise _hyperparams_error(algorithm, cls.__name__, exc, cls) from exc
    if joint and factory.single_output:
        from sklearn.multioutput import MultiOutputRegressor
        estimator = MultiOutputRegressor(estimator)
    return estimator


def fit(estimator, X, y=None, hyperparams=None, on_round=None):
    """Fits `estimator` (y None for clustering and decomposition) and returns it.

    joblib runs on threads here (its process backend would start /usr/bin/python3, which lacks
    the venv). An error the hyperparams caused becomes InvalidParameter with the estimator's own
    message; any other error (the data's) propagates unchanged. `hyperparams` are the user's; by
    default, every parameter that differs from the constructor's default counts.
    on_round(done, total) runs after each boosting round of XGBoost, LightGBM and CatBoost (the
    libraries with such a hook); what it raises (a cancel) stops the fit and propagates.
    """
    rounds = RoundHook(estimator, on_round) if on_round is not None else None
    try:
        with threads_only(), _quiet():
            kwargs = rounds.attach() if rounds is not None else {}
            try:
                if y is None:
                    estimator.fit(X, **kwargs)
                else:
                    estimator.fit(X, y, **kwargs)
            finally:
                if rounds is not None:
                    rounds.detach()
        if rounds is not None and rounds.raised is not None:
            raise rounds.raised
    except errors.PgmlError:
        raise
    except Exception as exc:
        if rounds is not None and exc is rounds.raised:
            raise   # on_round's own error (a cancel) passes untouched, never read as a hyperparams error
        names = list(hyperparams) if hyperparams is not None else _explicit_params(estimator)
        if _caused_by_hyperparams(exc, names):
            inner = _inner(estimator)
            raise _hyperparams_error(_algorithm_of(inner), type(inner).__name__, exc,
                                     type(inner)) from exc
        raise
    return estimator


class RoundHook:
    """Calls on_round(done, total) after each boosting round through the library's own hook:
    XGBoost's TrainingCallback (a constructor parameter, removed again after the fit), LightGBM's
    and CatBoost's fit callbacks. What on_round raises is kept in `raised`: fit() lets it pass
    as it is. CatBoost wraps a callback's error in its own, so there the fit is stopped instead
    and fit() raises the kept error afterwards."""

    def __init__(self, estimator, on_round):
        self.estimator, self.on_round, self.raised = estimator, on_round, None
        self.library = type(estimator).__module__.split(".")[0]

    def call(self, done, total):
        try:
            self.on_round(done, total)
        except BaseException as e:
            self.raised = e
            raise

    def attach(self):
        """The fit() keyword arguments that install the hook ({} for other libraries)."""
        if self.library == "xgboost":
            import xgboost
            if isinstance(self.estimator, (xgboost.XGBRFRegressor, xgboost.XGBRFClassifier)):
                return {}   # one round of many parallel trees, and no callbacks in its API
            hook, total = self, self.estimator.get_num_boosting_rounds()

            class Rounds(xgboost.callback.TrainingCallback):
                def after_iteration(self, model, epoch, evals_log):
                    hook.call(epoch + 1, total)
                    return False
            self.estimator.set_params(callbacks=[Rounds()])
            return {}
        if self.library == "lightgbm":
            return {"callbacks": [lambda env: self.call(env.iteration + 1, env.end_iteration)]}
        if self.library == "catboost":
            return {"callbacks": [self]}
        return {}

    def after_iteration(self, info):   # CatBoost's callback protocol: False stops the fit
        try:
            self.call(info.iteration, self.estimator.get_param("iterations") or 1000)  # 1-based
            return True
        except BaseException:  # noqa: BLE001 (kept in self.raised; fit() raises it)
            return False

    def detach(self):
        """The fitted estimator keeps no reference to on_round (nor to the database)."""
        if self.library == "xgboost":
            self.estimator.set_params(callbacks=None)


@contextlib.contextmanager
def threads_only():
    """joblib on threads, never loky processes; wrap predictions of user-set n_jobs in it too."""
    import joblib
    with joblib.parallel_config(backend="threading"):
        yield


def prediction_method(estimator):
    """The method that predicts: `predict`, or `transform` where there is none (PCA)."""
    return "predict" if callable(getattr(type(estimator), "predict", None)) else "transform"


def _inner(estimator):
    """The estimator a MultiOutputRegressor wraps, else the estimator itself."""
    if type(estimator).__name__ == "MultiOutputRegressor":
        return estimator.estimator
    return estimator


def _algorithm_of(estimator):
    cls = type(estimator)
    for (algorithm, _), factory in REGISTRY.items():
        if factory.name == cls.__name__ and cls.__module__.startswith(factory.module):
            return algorithm
    return cls.__name__


def _explicit_params(estimator):
    """Names of the parameters that differ from their constructor defaults."""
    estimator = _inner(estimator)
    try:
        params = estimator.get_params(deep=False)
        signature = inspect.signature(type(estimator)).parameters
    except Exception:
        return []
    names = []
    for name, value in params.items():
        default = signature[name].default if name in signature else None
        try:
            differs = bool(value != default)
        except Exception:
            differs = True
        if differs:
            names.append(name)
    return names


def _caused_by_hyperparams(exc, names):
    """Whether an error raised by fit comes from the hyperparams rather than the data."""
    if type(exc).__name__ == "InvalidParameterError":  # sklearn's parameter validation
        return True
    if not names:
        return False
    if isinstance(exc, TypeError):
        # train passes numeric arrays, so a type error is a hyperparam of the wrong type.
        return True
    return _mentions(str(exc), names)


def _mentions(message, names):
    for name in names:
        quoted = "['\"`]%s['\"`]|\\b%s=" % (re.escape(name), re.escape(name))
        bare = r"(?<![\w.-])%s(?![\w-])" % re.escape(name)
        # A short name (C, l1) counts only quoted or as name=...: bare, it is too common.
        if re.search(quoted if len(name) < 3 else quoted + "|" + bare, message):
            return True
    return False


def _hyperparams_error(algorithm, class_name, exc, cls):
    message = " ".join(str(exc).split()) or type(exc).__name__
    hint = "Fix hyperparams: see %s's documentation for its parameters and their values." % class_name
    if "unexpected keyword argument" in message:
        try:
            params = inspect.signature(cls).parameters.values()
            names = sorted(p.name for p in params if p.kind is not p.VAR_KEYWORD)
        except (TypeError, ValueError):
            names = []
        if 0 < len(names) <= 40:
            hint = "Valid hyperparams for %s: %s." % (class_name, ", ".join(names))
    return errors.InvalidParameter("invalid hyperparams for %s: %s" % (algorithm, message),
                                   detail="%s raised %s." % (class_name, type(exc).__name__),
                                   hint=hint)
