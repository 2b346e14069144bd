------------------------------------------------------------------------------------------
-- predict and friends (api.md §9), array forms: raw features, row-major. PARALLEL UNSAFE,
-- unlike PostgresML: they read the catalog, and PL/Python cannot query inside a parallel
-- plan (every query is a subtransaction), so a parallel plan would fail.
------------------------------------------------------------------------------------------
DO $do$
DECLARE
    t TEXT;
    shim CONSTANT TEXT := $shim$
CREATE OR REPLACE FUNCTION pgml.%1$I(%2$s) RETURNS %3$s AS $py$
if "pgml_api" not in GD: import sys; sys.path.append("@PGML_EXTENSION_DIR@"); import pgml_bootstrap; pgml_bootstrap.boot(GD, plpy)
return GD["pgml_api"].%4$s
$py$ LANGUAGE plpython3u IMMUTABLE STRICT PARALLEL UNSAFE$shim$;
BEGIN
    -- predict(project_name, features) for each array type PostgresML takes, plus (+) NUMERIC[]
    FOREACH t IN ARRAY ARRAY['REAL', 'DOUBLE PRECISION', 'SMALLINT', 'INT', 'BIGINT', 'BOOLEAN', 'NUMERIC'] LOOP
        EXECUTE format(shim, 'predict', format('project_name TEXT, features %s[]', t), 'REAL',
                       'predict(project_name, None, features, "predict")');
    END LOOP;
    EXECUTE format(shim, 'predict', 'model_id BIGINT, features REAL[]', 'REAL',
                   'predict(None, model_id, features, "predict")');
    EXECUTE format(shim, 'predict_proba', 'project_name TEXT, features REAL[]', 'REAL[]',
                   'predict(project_name, None, features, "predict_proba")');
    EXECUTE format(shim, 'predict_proba', 'model_id BIGINT, features REAL[]', 'REAL[]',
                   'predict(None, model_id, features, "predict_proba")');
    EXECUTE format(shim, 'predict_joint', 'project_name TEXT, features REAL[]', 'REAL[]',
                   'predict(project_name, None, features, "predict_joint")');
    EXECUTE format(shim, 'predict_joint', 'model_id BIGINT, features REAL[]', 'REAL[]',
                   'predict(None, model_id, features, "predict_joint")');
    EXECUTE format(shim, 'predict_batch', 'project_name TEXT, features REAL[]', 'SETOF REAL',
                   'predict(project_name, None, features, "predict_batch")');
    EXECUTE format(shim, 'predict_batch', 'model_id BIGINT, features REAL[]', 'REAL[]',
                   'predict(None, model_id, features, "predict_batch")');
    EXECUTE format(shim, 'decompose', 'project_name TEXT, vector REAL[]', 'REAL[]',
                   'predict(project_name, None, vector, "decompose")');
END
$do$;

