------------------------------------------------------------------------------------------
-- The per-connection model cache (+): what is loaded in this backend, and emptying it.
------------------------------------------------------------------------------------------
CREATE OR REPLACE FUNCTION pgml.cached_models()
RETURNS TABLE (kind TEXT, model TEXT, device TEXT, bytes BIGINT, loaded_at TIMESTAMPTZ,
               last_used TIMESTAMPTZ, hits BIGINT) AS $$
if "pgml_api" not in GD: import sys; sys.path.append("@PGML_EXTENSION_DIR@"); import pgml_bootstrap; pgml_bootstrap.boot(GD, plpy)
return GD["pgml_api"].cached_models()
$$ LANGUAGE plpython3u VOLATILE;

CREATE OR REPLACE FUNCTION pgml.clear_model_cache() RETURNS INTEGER AS $$
if "pgml_api" not in GD: import sys; sys.path.append("@PGML_EXTENSION_DIR@"); import pgml_bootstrap; pgml_bootstrap.boot(GD, plpy)
return GD["pgml_api"].clear_model_cache()
$$ LANGUAGE plpython3u VOLATILE;

