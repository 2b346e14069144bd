-- pgml.train / pgml.predict on builtin data (README "Classic ML"): deterministic algorithms with
-- fixed seeds and test_sampling 'last', so the metrics equal scikit-learn's and XGBoost's on the
-- same rows; the automatic deploy; the catalog rows and views; the errors of bad input.
\set VERBOSITY default
\set SHOW_CONTEXT never
-- Train NOTICEs name snapshot ids (they depend on what ran before) and times: keep them out.
SET client_min_messages = warning;
BEGIN;
SELECT * FROM pgml.load_dataset('diabetes');

-- Regression: 442 rows, the last round(442 * 0.25) = 111 are the test rows.
SELECT * FROM pgml.train('Diabetes', 'regression', 'pgml.diabetes', 'target', 'linear', test_sampling => 'last');
-- Same project: the relation and label come from the project's snapshot. A worse model is not deployed.
SELECT * FROM pgml.train('Diabetes', algorithm => 'ridge', hyperparams => '{"alpha": 0.1}', test_sampling => 'last');
SELECT * FROM pgml.train('Diabetes', algorithm => 'xgboost',
    hyperparams => '{"n_estimators": 20, "max_depth": 3, "random_state": 0}', test_sampling => 'last');
SELECT m.algorithm, m.status, m.num_features, m.hyperparams, m.runtime,
       round((m.metrics ->> 'r2')::numeric, 4) AS r2,
       round((m.metrics ->> 'mean_absolute_error')::numeric, 4) AS mae,
       round((m.metrics ->> 'mean_squared_error')::numeric, 2) AS mse,
       (SELECT array_agg(k ORDER BY k) FROM jsonb_object_keys(m.metrics) k) AS metric_keys
FROM pgml.models m JOIN pgml.projects p ON p.id = m.project_id
WHERE p.name = 'Diabetes' ORDER BY m.id;
SELECT s.relation_name, s.y_column_name, s.test_size, s.test_sampling, s.materialized, s.analysis,
       jsonb_array_length(s.columns) AS columns
FROM pgml.snapshots s JOIN pgml.models m ON m.snapshot_id = s.id JOIN pgml.projects p ON p.id = m.project_id
WHERE p.name = 'Diabetes' GROUP BY s.id ORDER BY s.id;
-- Predictions of the deployed model (linear), the array and the row forms, and of the XGBoost model by id.
SELECT round(target::numeric, 1) AS target,
       round(pgml.predict('Diabetes', ARRAY[age, sex, bmi, bp, s1, s2, s3, s4, s5, s6])::numeric, 2) AS linear,
       round(pgml.predict('Diabetes', (age, sex, bmi, bp, s1, s2, s3, s4, s5, s6))::numeric, 2) AS linear_row,
       round(pgml.predict((SELECT m.id FROM pgml.models m JOIN pgml.projects p ON p.id = m.project_id
                           WHERE p.name = 'Diabetes' AND m.algorithm = 'xgboost'),
                          ARRAY[age, sex, bmi, bp, s1, s2, s3, s4, s5, s6])::numeric, 2) AS xgboost
FROM pgml.diabetes LIMIT 3;
SELECT pg_typeof(pgml.predict('Diabetes', ARRAY[0, 0, 0, 0, 0, 0, 0, 0, 0, 0]::real[])) AS predict_type;
-- predict_batch: N rows concatenated.
SELECT round(p::numeric, 2) AS batch
FROM pgml.predict_batch('Diabetes', (SELECT array_agg(x) FROM (
    SELECT unnest(ARRAY[age, sex, bmi, bp, s1, s2, s3, s4, s5, s6]) AS x FROM (SELECT * FROM pgml.diabetes LIMIT 2) r) f)) p;

-- Binary classification with a boolean label: f1 is the binary F1, predictions come back as 1/0.
SELECT * FROM pgml.load_dataset('breast_cancer');
SELECT * FROM pgml.train('Breast Cancer', 'classification', 'pgml.breast_cancer', 'malignant', 'xgboost',
    hyperparams => '{"n_estimators": 10, "max_depth": 2, "random_state": 0}', test_sampling => 'last');
SELECT m.algorithm, m.num_features,
       round((m.metrics ->> 'f1')::numeric, 4) AS f1, round((m.metrics ->> 'accuracy')::numeric, 4) AS accuracy,
       round((m.metrics ->> 'precision')::numeric, 4) AS precision, round((m.metrics ->> 'recall')::numeric, 4) AS recall,
       round((m.metrics ->> 'roc_auc')::numeric, 4) AS roc_auc,
       (SELECT array_agg(k ORDER BY k) FROM jsonb_object_keys(m.metrics) k) AS metric_keys
FROM pgml.models m JOIN pgml.projects p ON p.id = m.project_id WHERE p.name = 'Breast Cancer';
CREATE TEMP VIEW bc_features AS
SELECT malignant, ARRAY["mean radius", "mean texture", "mean perimeter", "mean area", "mean smoothness",
    "mean compactness", "mean concavity", "mean concave points", "mean symmetry", "mean fractal dimension",
    "radius error", "texture error", "perimeter error", "area error", "smoothness error", "compactness error",
    "concavity error", "concave points error", "symmetry error", "fractal dimension error", "worst radius",
    "worst texture", "worst perimeter", "worst area", "worst smoothness", "worst compactness", "worst concavity",
    "worst concave points", "worst symmetry", "worst fractal dimension"] AS features
FROM pgml.breast_cancer;
SELECT malignant, pgml.predict('Breast Cancer', features) AS prediction,
       (SELECT array_agg(round(x::numeric, 4)) FROM unnest(pgml.predict_proba('Breast Cancer', features)) x) AS proba
FROM bc_features LIMIT 2;
SELECT malignant, pgml.predict('Breast Cancer', features) AS prediction, count(*)
FROM (SELECT * FROM bc_features OFFSET 569 - 142) test GROUP BY 1, 2 ORDER BY 1, 2;

-- Multiclass: iris with the classes interleaved (the builtin is sorted by class), so that the
-- last 38 rows hold all three; f1 is macro-averaged.
SELECT * FROM pgml.load_dataset('iris');
CREATE TABLE iris_mixed AS
SELECT sepal_length, sepal_width, petal_length, petal_width, target
FROM (SELECT *, row_number() OVER () AS n FROM pgml.iris) i ORDER BY (n - 1) % 50, target;
SELECT * FROM pgml.train('Iris', 'classification', 'iris_mixed', 'target', test_sampling => 'last');
SELECT * FROM pgml.train('Iris', algorithm => 'xgboost', hyperparams => '{"n_estimators": 10, "random_state": 0}',
    test_sampling => 'last');
SELECT m.algorithm, m.num_features, round((m.metrics ->> 'f1')::numeric, 4) AS f1,
       round((m.metrics ->> 'accuracy')::numeric, 4) AS accuracy, round((m.metrics ->> 'mcc')::numeric, 4) AS mcc,
       m.metrics ? 'roc_auc' AS has_roc_auc
FROM pgml.models m JOIN pgml.projects p ON p.id = m.project_id WHERE p.name = 'Iris' ORDER BY m.id;
SELECT target, pgml.predict('Iris', ARRAY[sepal_length, sepal_width, petal_length, petal_width]) AS prediction,
       (SELECT array_agg(round(x::numeric, 4)) FROM unnest(pgml.predict_proba('Iris',
           ARRAY[sepal_length, sepal_width, petal_length, petal_width])) x) AS proba
FROM iris_mixed LIMIT 3;

-- Joint regression: three labels, predict_joint returns every target.
SELECT * FROM pgml.load_dataset('linnerud');
SELECT * FROM pgml.train_joint('Linnerud', 'regression', 'pgml.linnerud', ARRAY['weight', 'waist', 'pulse'],
    test_sampling => 'last');
SELECT (SELECT array_agg(round(x::numeric, 2)) FROM unnest(pgml.predict_joint('Linnerud', ARRAY[chins, situps, jumps])) x) AS joint,
       weight, waist, pulse
FROM pgml.linnerud LIMIT 2;

-- The catalog views (timestamps and ids left out).
SELECT name, task, algorithm, runtime, relation_name, y_column_name, test_sampling, test_size
FROM pgml.overview WHERE name IN ('Breast Cancer', 'Diabetes', 'Iris', 'Linnerud') ORDER BY name;
SELECT name, task, algorithm, runtime, test_sampling, test_size, deployed
FROM pgml.trained_models WHERE name IN ('Breast Cancer', 'Diabetes', 'Iris', 'Linnerud') ORDER BY name, id;
SELECT name, task, algorithm, runtime FROM pgml.deployed_models WHERE name IN ('Breast Cancer', 'Diabetes', 'Iris', 'Linnerud') ORDER BY name;
SELECT p.name, p.task, count(m.*) AS models, count(DISTINCT m.snapshot_id) AS snapshots,
       count(*) FILTER (WHERE m.status = 'successful') AS successful
FROM pgml.projects p JOIN pgml.models m ON m.project_id = p.id WHERE p.name IN ('Breast Cancer', 'Diabetes', 'Iris', 'Linnerud')
GROUP BY p.name, p.task ORDER BY p.name;
-- Every model is stored in pgml.files.
SELECT count(*) AS models, count(*) FILTER (WHERE EXISTS (SELECT FROM pgml.files f WHERE f.model_id = m.id)) AS with_files
FROM pgml.models m JOIN pgml.projects p ON p.id = m.project_id WHERE p.name IN ('Breast Cancer', 'Diabetes', 'Iris', 'Linnerud');

-- Errors (each in a savepoint, so the models above stay for the next one).
SAVEPOINT s;
SELECT * FROM pgml.train('New Project', relation_name => 'pgml.iris', y_column_name => 'target');
\echo :LAST_ERROR_SQLSTATE
ROLLBACK TO s;
SELECT * FROM pgml.train('Iris', 'regression');
\echo :LAST_ERROR_SQLSTATE
ROLLBACK TO s;
SELECT * FROM pgml.train('Other', 'classification', 'no_such_table', 'target');
\echo :LAST_ERROR_SQLSTATE
ROLLBACK TO s;
SELECT * FROM pgml.train('Other', 'classification', 'pgml.iris', 'no_such_column');
\echo :LAST_ERROR_SQLSTATE
ROLLBACK TO s;
SELECT * FROM pgml.train('Other', 'classification', 'pgml.iris', 'target', 'lasso');
\echo :LAST_ERROR_SQLSTATE
ROLLBACK TO s;
SELECT * FROM pgml.train('Other', 'classification', 'pgml.iris', 'target', hyperparams => '{"C": 1}',
    search_params => '{"C": [0.1, 1]}', search => 'grid');
\echo :LAST_ERROR_SQLSTATE
ROLLBACK TO s;
SELECT * FROM pgml.train('Other', 'sorting', 'pgml.iris', 'target');
\echo :LAST_ERROR_SQLSTATE
ROLLBACK TO s;
SELECT pgml.predict('No Such Project', ARRAY[1, 2]::real[]);
\echo :LAST_ERROR_SQLSTATE
ROLLBACK TO s;
SELECT pgml.predict_proba('Diabetes', ARRAY[0, 0, 0, 0, 0, 0, 0, 0, 0, 0]::real[]);
\echo :LAST_ERROR_SQLSTATE
ROLLBACK TO s;
SELECT pgml.predict('Iris', ARRAY[1, 2]::real[]);
\echo :LAST_ERROR_SQLSTATE
ROLLBACK TO s;
ROLLBACK;
