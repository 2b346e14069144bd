------------------------------------------------------------------------------------------
-- The per-connection model cache (+): what is loaded in this backend, and emptying it.
------------------------------------------------------------------------------------------
CREATE OR REPLACE FUNCTION pgml.cached_models()
RETURNS TABLE (kind TEXT, model TEXT, device TEXT, bytes BIGINT, loaded_at TIMESTAMPTZ,
               last_used TIMESTAMPTZ, hits BIGINT) AS $$
@BOOT@
return GD["pgml_api"].cached_models()
$$ LANGUAGE plpython3u VOLATILE SET search_path = pg_catalog, pg_temp;

CREATE OR REPLACE FUNCTION pgml.clear_model_cache() RETURNS INTEGER AS $$
@BOOT@
return GD["pgml_api"].clear_model_cache()
$$ LANGUAGE plpython3u VOLATILE SET search_path = pg_catalog, pg_temp;

