------------------------------------------------------------------------------------------
-- Embeddings (api.md §6). IMMUTABLE so they can back GENERATED columns and indexes.
------------------------------------------------------------------------------------------
CREATE OR REPLACE FUNCTION pgml.embed(
    transformer TEXT,          -- model: hub name (looked up in pgml.model_store first) or path
    "text" TEXT,               -- the text to embed
    kwargs JSONB DEFAULT '{}'  -- constructor keys (device, revision, ...) and encode() keys
) RETURNS REAL[] AS $$
if "pgml_api" not in GD: import sys; sys.path.append("@PGML_EXTENSION_DIR@"); import pgml_bootstrap; pgml_bootstrap.boot(GD, plpy)
return GD["pgml_api"].embed(transformer=transformer, text=text, kwargs=kwargs)
$$ LANGUAGE plpython3u IMMUTABLE STRICT PARALLEL SAFE;

CREATE OR REPLACE FUNCTION pgml.embed(
    transformer TEXT,          -- model: hub name (looked up in pgml.model_store first) or path
    inputs TEXT[],             -- texts to embed in one batch; one row each, in input order
    kwargs JSONB DEFAULT '{}'  -- constructor keys (device, revision, ...) and encode() keys
) RETURNS SETOF REAL[] AS $$
if "pgml_api" not in GD: import sys; sys.path.append("@PGML_EXTENSION_DIR@"); import pgml_bootstrap; pgml_bootstrap.boot(GD, plpy)
return GD["pgml_api"].embed_batch(transformer=transformer, inputs=inputs, kwargs=kwargs)
$$ LANGUAGE plpython3u IMMUTABLE STRICT PARALLEL SAFE;

