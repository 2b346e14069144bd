------------------------------------------------------------------------------------------
-- deploy: make a model its project's live model (a pgml.deployments row).
------------------------------------------------------------------------------------------
CREATE OR REPLACE FUNCTION pgml.deploy(
    model_id BIGINT -- the pgml.models id to deploy (strategy specific)
) RETURNS TABLE (project TEXT, strategy TEXT, algorithm TEXT) AS $$
@BOOT@
return GD["pgml_api"].deploy_model(model_id=model_id)
$$ LANGUAGE plpython3u VOLATILE STRICT SET search_path = pg_catalog, pg_temp;

-- (+) strategy defaults to best_score, so deploy('p') reaches this form.
CREATE OR REPLACE FUNCTION pgml.deploy(
    project_name TEXT,                           -- the project whose live model changes
    strategy pgml.strategy DEFAULT 'best_score', -- best_score, most_recent or rollback
    algorithm pgml.algorithm DEFAULT NULL        -- only this algorithm's models; NULL = all
) RETURNS TABLE (project TEXT, strategy TEXT, algorithm TEXT) AS $$
@BOOT@
return GD["pgml_api"].deploy(project_name=project_name, strategy=strategy, algorithm=algorithm)
$$ LANGUAGE plpython3u VOLATILE SET search_path = pg_catalog, pg_temp;
