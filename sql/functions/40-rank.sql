------------------------------------------------------------------------------------------
-- rank and clear_gpu_cache.
------------------------------------------------------------------------------------------
CREATE OR REPLACE FUNCTION pgml.rank(
    transformer TEXT,          -- a cross-encoder: hub name (model store first) or path
    query TEXT,                -- the query
    documents TEXT[],          -- the documents to rank
    kwargs JSONB DEFAULT '{}'  -- top_k, return_documents, batch_size; constructor keys as embed
) RETURNS TABLE (corpus_id BIGINT, score DOUBLE PRECISION, "text" TEXT) AS $$
@BOOT@
return GD["pgml_api"].rank(transformer=transformer, query=query, documents=documents, kwargs=kwargs)
$$ LANGUAGE plpython3u IMMUTABLE STRICT PARALLEL UNSAFE SET search_path = pg_catalog, pg_temp;

CREATE OR REPLACE FUNCTION pgml.clear_gpu_cache(
    memory_usage REAL DEFAULT NULL  -- clear only when GPU memory use is at least this fraction
) RETURNS BOOLEAN AS $$
@BOOT@
return GD["pgml_api"].clear_gpu_cache(memory_usage=memory_usage)
$$ LANGUAGE plpython3u IMMUTABLE PARALLEL UNSAFE SET search_path = pg_catalog, pg_temp;

