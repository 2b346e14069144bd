------------------------------------------------------------------------------------------
-- Embeddings. IMMUTABLE so they can back GENERATED columns and indexes.
-- The Python side returns each vector as REAL[] text ('%.9g' round-trips float32 exactly):
-- PL/Python would otherwise repr() and re-parse every float, about 6% of a batch's time.
------------------------------------------------------------------------------------------
CREATE OR REPLACE FUNCTION pgml._embed_text(transformer TEXT, "text" TEXT, kwargs JSONB)
RETURNS TEXT AS $$
@BOOT@
return GD["pgml_api"].embed(transformer=transformer, text=text, kwargs=kwargs)
$$ LANGUAGE plpython3u IMMUTABLE STRICT PARALLEL UNSAFE SET search_path = pg_catalog, pg_temp;

CREATE OR REPLACE FUNCTION pgml._embed_batch_text(transformer TEXT, inputs TEXT[], kwargs JSONB)
RETURNS SETOF TEXT AS $$
@BOOT@
return GD["pgml_api"].embed_batch(transformer=transformer, inputs=inputs, kwargs=kwargs)
$$ LANGUAGE plpython3u IMMUTABLE STRICT PARALLEL UNSAFE SET search_path = pg_catalog, pg_temp;

CREATE OR REPLACE FUNCTION pgml.embed(
    transformer TEXT,          -- model: hub name (looked up in pgml.model_store first) or path
    "text" TEXT,               -- the text to embed
    kwargs JSONB DEFAULT '{}'  -- constructor keys (device, revision, ...) and encode() keys
) RETURNS REAL[] AS $$
SELECT pgml._embed_text(transformer, "text", kwargs)::REAL[]
$$ LANGUAGE sql IMMUTABLE STRICT PARALLEL UNSAFE SET search_path = pg_catalog, pg_temp;

CREATE OR REPLACE FUNCTION pgml.embed(
    transformer TEXT,          -- model: hub name (looked up in pgml.model_store first) or path
    inputs TEXT[],             -- texts to embed in one batch; one row each, in input order
    kwargs JSONB DEFAULT '{}'  -- constructor keys (device, revision, ...) and encode() keys
) RETURNS SETOF REAL[] AS $$
SELECT e::REAL[] FROM pgml._embed_batch_text(transformer, inputs, kwargs) AS e
$$ LANGUAGE sql IMMUTABLE STRICT PARALLEL UNSAFE SET search_path = pg_catalog, pg_temp;

-- (+) What pgml.embed_backend = auto chose for each model it measured (make install's and this
-- server's), and why: each candidate runtime's texts/s and cosine to torch (docs/embedding.md);
-- pgml.rank's cross-encoders too, their reason starting "pgml.rank:".
CREATE OR REPLACE FUNCTION pgml.embed_choices()
RETURNS TABLE (model TEXT, chosen TEXT, reason TEXT, candidates JSONB, cpu TEXT, this_cpu BOOLEAN,
               measured_at TIMESTAMPTZ, file TEXT) AS $$
@BOOT@
return GD["pgml_api"].embed_choices()
$$ LANGUAGE plpython3u VOLATILE SET search_path = pg_catalog, pg_temp;
