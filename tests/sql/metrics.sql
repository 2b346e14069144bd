-- The pgml.sklearn_* metric functions (README "Classic ML"): scikit-learn's metrics on REAL[]
-- labels, every key of the JSONB results rounded, named arguments, and the errors of bad input.
\set VERBOSITY default
\set SHOW_CONTEXT never
CREATE TEMP TABLE labels (name text, y real[], p real[]);
INSERT INTO labels VALUES
    ('binary', '{0,1,1,0,1,0,1,1}', '{0,1,0,0,1,1,1,1}'),
    ('multiclass', '{0,1,2,2,1,0}', '{0,2,2,2,1,1}'),
    ('regression', '{3.1,-0.5,2,7.3,0.1}', '{2.5,0,2.1,8,0.3}');

-- f1: binary for two classes, macro-averaged for more; r2 of a regression.
SELECT name, round(pgml.sklearn_f1_score(y, p)::numeric, 4) AS f1, pg_typeof(pgml.sklearn_f1_score(y, p)) AS type
FROM labels WHERE name IN ('binary', 'multiclass') ORDER BY name;
SELECT round(pgml.sklearn_r2_score(y, p)::numeric, 4) AS r2, pg_typeof(pgml.sklearn_r2_score(y, p)) AS type
FROM labels WHERE name = 'regression';
-- Regression metrics: r2, mse, mae.
SELECT m.key, round(m.value::numeric, 4) AS value
FROM labels, jsonb_each_text(pgml.sklearn_regression_metrics(y, p)) m
WHERE name = 'regression' ORDER BY m.key;
-- Classification metrics: f1, f1_micro, precision, recall, accuracy, mcc, and roc_auc for two classes.
SELECT m.key, round(m.value::numeric, 4) AS value
FROM labels, jsonb_each_text(pgml.sklearn_classification_metrics(y, p, 2)) m
WHERE name = 'binary' ORDER BY m.key;
SELECT m.key, round(m.value::numeric, 4) AS value
FROM labels, jsonb_each_text(pgml.sklearn_classification_metrics(y, p, 3)) m
WHERE name = 'multiclass' ORDER BY m.key;
-- num_classes 3 with only labels 0 and 1 present: macro averages over the labels present, as
-- scikit-learn (and PostgresML) do.
SELECT m.key, round(m.value::numeric, 4) AS value
FROM jsonb_each_text(pgml.sklearn_classification_metrics('{0,1,1,0}', '{0,1,0,0}', 3)) m ORDER BY m.key;
-- Undefined values are null: roc_auc with one true class, r2 of a single value.
SELECT pgml.sklearn_classification_metrics('{1,1}', '{0,1}', 2) -> 'roc_auc' AS roc_auc,
       pgml.sklearn_classification_metrics('{1,1}', '{0,1}', 2) -> 'accuracy' AS accuracy,
       pgml.sklearn_regression_metrics('{1}', '{2}') AS single_value;
-- Named arguments; multi-dimensional arrays are flattened; STRICT.
SELECT round(pgml.sklearn_f1_score(ground_truth => y, y_hat => p)::numeric, 4) AS f1,
       round((pgml.sklearn_classification_metrics(ground_truth => y, y_hat => p, num_classes => 2) ->> 'mcc')::numeric, 4) AS mcc
FROM labels WHERE name = 'binary';
SELECT round(pgml.sklearn_r2_score(ARRAY[[1, 2], [3, 4]]::real[], ARRAY[[1, 2], [3, 5]]::real[])::numeric, 4) AS r2_2d,
       pgml.sklearn_r2_score(NULL, ARRAY[1]::real[]) IS NULL AS strict;

-- Errors: different lengths (22000), NULL elements (22004), bad num_classes and empty arrays (22023).
SELECT pgml.sklearn_f1_score(ARRAY[1, 0, 1]::real[], ARRAY[1, 0, 1, 1, 0]::real[]);
\echo :LAST_ERROR_SQLSTATE
SELECT pgml.sklearn_regression_metrics(ARRAY[NULL, 2]::real[], ARRAY[1, 2]::real[]);
\echo :LAST_ERROR_SQLSTATE
SELECT pgml.sklearn_classification_metrics(ARRAY[1, 0]::real[], ARRAY[NULL, 0]::real[], 2);
\echo :LAST_ERROR_SQLSTATE
SELECT pgml.sklearn_classification_metrics(ARRAY[1, 0]::real[], ARRAY[1, 0]::real[], 1);
\echo :LAST_ERROR_SQLSTATE
SELECT pgml.sklearn_classification_metrics(ARRAY[0, 1, 2]::real[], ARRAY[0, 1, 1]::real[], 2);
\echo :LAST_ERROR_SQLSTATE
SELECT pgml.sklearn_r2_score('{}'::real[], '{}'::real[]);
\echo :LAST_ERROR_SQLSTATE
