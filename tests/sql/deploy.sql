-- pgml.deploy (README "Classic ML"): the automatic deploy of pgml.train, the strategies
-- best_score, most_recent, rollback and a specific model, the algorithm filter, the deployments
-- history, predict following the latest deployment at once, and the errors of bad input.
\set VERBOSITY default
\set SHOW_CONTEXT never
-- Train NOTICEs name snapshot ids (they depend on what ran before) and times: keep them out.
SET client_min_messages = warning;
BEGIN;
SELECT * FROM pgml.load_dataset('diabetes');
CREATE TEMP VIEW diabetes_models AS
SELECT m.* FROM pgml.models m JOIN pgml.projects p ON p.id = m.project_id WHERE p.name = 'Diabetes';
CREATE TEMP VIEW first_row AS
SELECT ARRAY[age, sex, bmi, bp, s1, s2, s3, s4, s5, s6] AS features FROM pgml.diabetes LIMIT 1;
-- Three models on the same split; r2 on the test rows: linear 0.5479, ridge 0.5357, xgboost 0.4353.
-- Without automatic_deploy nothing is deployed, so predict has no model yet.
SELECT * FROM pgml.train('Diabetes', 'regression', 'pgml.diabetes', 'target', 'xgboost',
    hyperparams => '{"n_estimators": 20, "max_depth": 3, "random_state": 0}', test_sampling => 'last',
    automatic_deploy => false);
SAVEPOINT s;
SELECT pgml.predict('Diabetes', features) FROM first_row;
\echo :LAST_ERROR_SQLSTATE
ROLLBACK TO s;
-- No deployment yet: the new model is deployed (strategy new_score) ...
SELECT * FROM pgml.train('Diabetes', algorithm => 'linear', test_sampling => 'last');
-- ... and a worse one is not.
SELECT * FROM pgml.train('Diabetes', algorithm => 'ridge', hyperparams => '{"alpha": 0.1}', test_sampling => 'last');
SELECT algorithm, round((metrics ->> 'r2')::numeric, 4) AS r2 FROM diabetes_models ORDER BY created_at;
SELECT name, algorithm FROM pgml.deployed_models WHERE name = 'Diabetes';
SELECT round(pgml.predict('Diabetes', features)::numeric, 2) AS linear FROM first_row;

-- most_recent: the newest model (ridge); predict uses it in the next statement.
SELECT * FROM pgml.deploy('Diabetes', 'most_recent');
SELECT round(pgml.predict('Diabetes', features)::numeric, 2) AS ridge FROM first_row;
-- rollback: the newest earlier deployment of another model; repeated, it alternates.
SELECT * FROM pgml.deploy('Diabetes', 'rollback');
SELECT round(pgml.predict('Diabetes', features)::numeric, 2) AS linear FROM first_row;
SELECT * FROM pgml.deploy('Diabetes', 'rollback');
SELECT name, algorithm FROM pgml.deployed_models WHERE name = 'Diabetes';
-- best_score: the highest r2 (linear); with an algorithm, the best of that algorithm.
SELECT * FROM pgml.deploy('Diabetes', 'best_score');
SELECT * FROM pgml.deploy('Diabetes', 'best_score', 'xgboost');
SELECT round(pgml.predict('Diabetes', features)::numeric, 2) AS xgboost FROM first_row;
SELECT * FROM pgml.deploy('Diabetes', 'most_recent', 'linear');
-- A specific model by id (strategy specific); the project name alone means best_score.
SELECT * FROM pgml.deploy((SELECT id FROM diabetes_models WHERE algorithm = 'ridge'));
SELECT * FROM pgml.deploy(project_name => 'Diabetes', strategy => 'best_score', algorithm => 'ridge');
SELECT * FROM pgml.deploy('Diabetes');
-- The history, oldest first; every deployment shows in pgml.overview, the current one in deployed_models.
SELECT d.strategy, m.algorithm FROM pgml.deployments d JOIN diabetes_models m ON m.id = d.model_id ORDER BY d.id;
SELECT count(*) AS deployments, count(DISTINCT algorithm) AS algorithms FROM pgml.overview WHERE name = 'Diabetes';
SELECT name, algorithm FROM pgml.deployed_models WHERE name = 'Diabetes';
SELECT algorithm, deployed FROM pgml.trained_models WHERE name = 'Diabetes' ORDER BY id;

-- Errors (each rolled back to the savepoint, so the models above stay for the next one).
SELECT * FROM pgml.deploy('Diabetes', 'new_score');
\echo :LAST_ERROR_SQLSTATE
ROLLBACK TO s;
SELECT * FROM pgml.deploy('Diabetes', 'specific');
\echo :LAST_ERROR_SQLSTATE
ROLLBACK TO s;
SELECT * FROM pgml.deploy('Diabetes', 'best_score', 'svm');
\echo :LAST_ERROR_SQLSTATE
ROLLBACK TO s;
SELECT * FROM pgml.deploy('No Such Project', 'best_score');
\echo :LAST_ERROR_SQLSTATE
ROLLBACK TO s;
SELECT * FROM pgml.deploy(-1);
\echo :LAST_ERROR_SQLSTATE
ROLLBACK TO s;
SELECT * FROM pgml.deploy('Diabetes', 'worst');
\echo :LAST_ERROR_SQLSTATE
ROLLBACK TO s;
-- A project with a single deployment has nothing to roll back to.
SELECT * FROM pgml.load_dataset('linnerud');
SELECT * FROM pgml.train('Linnerud', 'regression', 'pgml.linnerud', 'pulse', test_sampling => 'last');
SELECT * FROM pgml.deploy('Linnerud', 'rollback');
\echo :LAST_ERROR_SQLSTATE
ROLLBACK TO s;
ROLLBACK;
