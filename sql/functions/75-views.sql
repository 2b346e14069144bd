------------------------------------------------------------------------------------------
-- Catalog views. security_invoker: each role sees through them only the rows the
-- catalog's row-level security shows it. "Newest" is by id: a project's deployments get ids in
-- commit order (deploys lock the project row), while created_at is a timestamp without time zone
-- whose value depends on the session's TimeZone.
------------------------------------------------------------------------------------------
-- Every deployment, newest first.
CREATE OR REPLACE VIEW pgml.overview WITH (security_invoker = true) AS
SELECT p.name, d.created_at AS deployed_at, p.task, m.algorithm, m.runtime, s.relation_name,
       s.y_column_name, s.test_sampling, s.test_size
FROM pgml.projects p
JOIN pgml.models m ON p.id OPERATOR(pg_catalog.=) m.project_id
JOIN pgml.deployments d ON d.model_id OPERATOR(pg_catalog.=) m.id
LEFT JOIN pgml.snapshots s ON s.id OPERATOR(pg_catalog.=) m.snapshot_id
ORDER BY d.id DESC;

-- Every model; deployed = it is its project's newest deployment.
CREATE OR REPLACE VIEW pgml.trained_models WITH (security_invoker = true) AS
SELECT m.id, p.name, p.task, m.algorithm, m.runtime, m.created_at, s.test_sampling, s.test_size,
       d.model_id IS NOT NULL AS deployed
FROM pgml.projects p
JOIN pgml.models m ON p.id OPERATOR(pg_catalog.=) m.project_id
LEFT JOIN pgml.snapshots s ON s.id OPERATOR(pg_catalog.=) m.snapshot_id
LEFT JOIN (
    SELECT DISTINCT ON (project_id) project_id, model_id
    FROM pgml.deployments
    ORDER BY project_id, id DESC
) d ON d.model_id OPERATOR(pg_catalog.=) m.id
ORDER BY m.id DESC;

-- The current model of each project.
CREATE OR REPLACE VIEW pgml.deployed_models WITH (security_invoker = true) AS
SELECT m.id, p.name, p.task, m.algorithm, m.runtime, d.deployed_at
FROM pgml.projects p
JOIN (
    SELECT DISTINCT ON (project_id) project_id, model_id, created_at AS deployed_at
    FROM pgml.deployments
    ORDER BY project_id, id DESC
) d ON d.project_id OPERATOR(pg_catalog.=) p.id
JOIN pgml.models m ON m.id OPERATOR(pg_catalog.=) d.model_id
ORDER BY p.name ASC;

-- (+) Every pgml.* setting (README "Settings"); calling pgml defines them in this backend first.
CREATE OR REPLACE VIEW pgml.settings WITH (security_invoker = true) AS
SELECT name, setting, default_value, source, description FROM pgml.show_settings();
