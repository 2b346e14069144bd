------------------------------------------------------------------------------------------
-- Chunking with LangChain's text splitters.
------------------------------------------------------------------------------------------
CREATE OR REPLACE FUNCTION pgml.chunk(
    splitter TEXT,             -- character, latex, markdown, nltk, python, recursive_character, spacy
    "text" TEXT,               -- the text to split
    kwargs JSONB DEFAULT '{}'  -- the splitter's options: chunk_size, chunk_overlap, separator(s) ...
) RETURNS TABLE (chunk_index BIGINT, chunk TEXT) AS $$
@BOOT@
return GD["pgml_api"].chunk(splitter=splitter, text=text, kwargs=kwargs)
$$ LANGUAGE plpython3u IMMUTABLE STRICT PARALLEL UNSAFE SET search_path = pg_catalog, pg_temp;

