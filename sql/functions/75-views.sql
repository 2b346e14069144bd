------------------------------------------------------------------------------------------
-- Catalog views (api.md §2).
------------------------------------------------------------------------------------------
-- Every deployment, newest first.
CREATE OR REPLACE VIEW pgml.overview AS
SELECT p.name, d.created_at AS deployed_at, p.task, m.algorithm, m.runtime, s.relation_name,
       s.y_column_name, s.test_sampling, s.test_size
FROM pgml.projects p
JOIN pgml.models m ON p.id = m.project_id
JOIN pgml.deployments d ON d.model_id = m.id
LEFT JOIN pgml.snapshots s ON s.id = m.snapshot_id
ORDER BY d.created_at DESC;

-- Every model; deployed = it is its project's newest deployment.
CREATE OR REPLACE VIEW pgml.trained_models AS
SELECT m.id, p.name, p.task, m.algorithm, m.runtime, m.created_at, s.test_sampling, s.test_size,
       d.model_id IS NOT NULL AS deployed
FROM pgml.projects p
JOIN pgml.models m ON p.id = m.project_id
LEFT JOIN pgml.snapshots s ON s.id = m.snapshot_id
LEFT JOIN (
    SELECT DISTINCT ON (project_id) project_id, model_id
    FROM pgml.deployments
    ORDER BY project_id, created_at DESC, id DESC
) d ON d.model_id = m.id
ORDER BY m.created_at DESC;

-- The current model of each project.
CREATE OR REPLACE VIEW pgml.deployed_models AS
SELECT m.id, p.name, p.task, m.algorithm, m.runtime, d.deployed_at
FROM pgml.projects p
JOIN (
    SELECT DISTINCT ON (project_id) project_id, model_id, created_at AS deployed_at
    FROM pgml.deployments
    ORDER BY project_id, created_at DESC, id DESC
) d ON d.project_id = p.id
JOIN pgml.models m ON m.id = d.model_id
ORDER BY p.name ASC;

