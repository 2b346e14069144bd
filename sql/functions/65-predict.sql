------------------------------------------------------------------------------------------
-- predict and friends, array forms: raw features, row-major. PARALLEL UNSAFE,
-- unlike PostgresML: they read the catalog, and PL/Python cannot query inside a parallel
-- plan (every query is a subtransaction), so a parallel plan would fail. STABLE, unlike
-- PostgresML's IMMUTABLE: the result depends on the deployment the statement's snapshot sees,
-- and an IMMUTABLE call with constant arguments is folded into a prepared plan, which then
-- keeps predicting with the model deployed when it was planned.
------------------------------------------------------------------------------------------
DO $do$
DECLARE
    t TEXT;
    shim CONSTANT TEXT := $shim$
CREATE OR REPLACE FUNCTION pgml.%1$I(%2$s) RETURNS %3$s AS $py$
@BOOT@
return GD["pgml_api"].%4$s
$py$ LANGUAGE plpython3u STABLE STRICT PARALLEL UNSAFE SET search_path = pg_catalog, pg_temp$shim$;
BEGIN
    -- predict(project_name, features) for each array type PostgresML takes, plus (+) NUMERIC[]
    FOREACH t IN ARRAY ARRAY['REAL', 'DOUBLE PRECISION', 'SMALLINT', 'INT', 'BIGINT', 'BOOLEAN', 'NUMERIC'] LOOP
        EXECUTE pg_catalog.format(shim, 'predict', pg_catalog.format('project_name TEXT, features %s[]', t), 'REAL',
                       'predict(project_name, None, features, "predict")');
    END LOOP;
    EXECUTE pg_catalog.format(shim, 'predict', 'model_id BIGINT, features REAL[]', 'REAL',
                   'predict(None, model_id, features, "predict")');
    EXECUTE pg_catalog.format(shim, 'predict_proba', 'project_name TEXT, features REAL[]', 'REAL[]',
                   'predict(project_name, None, features, "predict_proba")');
    EXECUTE pg_catalog.format(shim, 'predict_proba', 'model_id BIGINT, features REAL[]', 'REAL[]',
                   'predict(None, model_id, features, "predict_proba")');
    EXECUTE pg_catalog.format(shim, 'predict_joint', 'project_name TEXT, features REAL[]', 'REAL[]',
                   'predict(project_name, None, features, "predict_joint")');
    EXECUTE pg_catalog.format(shim, 'predict_joint', 'model_id BIGINT, features REAL[]', 'REAL[]',
                   'predict(None, model_id, features, "predict_joint")');
    EXECUTE pg_catalog.format(shim, 'predict_batch', 'project_name TEXT, features REAL[]', 'SETOF REAL',
                   'predict(project_name, None, features, "predict_batch")');
    EXECUTE pg_catalog.format(shim, 'predict_batch', 'model_id BIGINT, features REAL[]', 'REAL[]',
                   'predict(None, model_id, features, "predict_batch")');
    EXECUTE pg_catalog.format(shim, 'decompose', 'project_name TEXT, vector REAL[]', 'REAL[]',
                   'predict(project_name, None, vector, "decompose")');
END
$do$;


------------------------------------------------------------------------------------------
-- predict, row form: a record of the snapshot's feature columns, in order,
-- preprocessed as in training. PL/Python cannot take ANYELEMENT (nor see a record's field
-- types), so SQL/PL/pgSQL shims check the record and hand it over as JSON, which keeps the
-- field order.
------------------------------------------------------------------------------------------
CREATE OR REPLACE FUNCTION pgml._row_json(features ANYELEMENT) RETURNS JSON AS $$
DECLARE
    t CONSTANT pg_catalog.regtype := pg_catalog.pg_typeof($1);
BEGIN
    IF t OPERATOR(pg_catalog.=) ANY (ARRAY['pg_catalog.text', 'pg_catalog.varchar', 'pg_catalog.bpchar']::pg_catalog.regtype[]) THEN
        RETURN pg_catalog.to_json($1);  -- the text for a classifier made by pgml.tune
    END IF;
    IF t OPERATOR(pg_catalog.<>) 'pg_catalog.record'::pg_catalog.regtype AND NOT EXISTS (
            SELECT 1 FROM pg_catalog.pg_type WHERE oid OPERATOR(pg_catalog.=) t AND typtype OPERATOR(pg_catalog.=) 'c') THEN
        RAISE EXCEPTION 'pgml.predict expects a row of features or an array, got %', t
            USING ERRCODE = 'datatype_mismatch',
                  HINT = 'Pass ROW(a, b, ...) with the feature columns in order, or the features as an array.';
    END IF;
    BEGIN
        -- A field of type unknown (a quoted literal or NULL in ROW(...)) has no equality operator.
        PERFORM $1 IS NOT DISTINCT FROM $1;
    EXCEPTION WHEN undefined_function THEN
        RAISE EXCEPTION 'Type information missing for column of the row: a quoted literal or NULL in ROW(...) has no type'
            USING ERRCODE = 'indeterminate_datatype',
                  HINT = 'CAST every literal field, e.g. ROW(''red''::TEXT, 1.5::REAL, NULL::INT).';
    END;
    RETURN pg_catalog.row_to_json($1);
END
$$ LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL UNSAFE SET search_path = pg_catalog, pg_temp;

CREATE OR REPLACE FUNCTION pgml._predict_row(project_name TEXT, model_id BIGINT, "row" JSON) RETURNS REAL AS $py$
@BOOT@
return GD["pgml_api"].predict_row(project_name, model_id, row)
$py$ LANGUAGE plpython3u STABLE PARALLEL UNSAFE SET search_path = pg_catalog, pg_temp;

CREATE OR REPLACE FUNCTION pgml.predict(project_name TEXT, "row" ANYELEMENT) RETURNS REAL AS $$
SELECT pgml._predict_row(project_name, NULL::BIGINT, pgml._row_json($2))
$$ LANGUAGE sql STABLE STRICT PARALLEL UNSAFE SET search_path = pg_catalog, pg_temp;

CREATE OR REPLACE FUNCTION pgml.predict(model_id BIGINT, "row" ANYELEMENT) RETURNS REAL AS $$
SELECT pgml._predict_row(NULL::TEXT, model_id, pgml._row_json($2))
$$ LANGUAGE sql STABLE STRICT PARALLEL UNSAFE SET search_path = pg_catalog, pg_temp;
