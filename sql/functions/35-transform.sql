------------------------------------------------------------------------------------------
-- transform / transform_stream: Hugging Face pipelines from SQL. The four
-- overloads of each are PostgresML's: task TEXT or JSONB, inputs TEXT[] or chat JSONB[].
------------------------------------------------------------------------------------------
CREATE OR REPLACE FUNCTION pgml.transform(
    task JSONB,                               -- {"task": ..., "model": ..., pipeline kwargs}
    args JSONB DEFAULT '{}',                  -- kwargs of the pipeline call
    inputs TEXT[] DEFAULT ARRAY[]::pg_catalog.text[],    -- one item per input
    cache BOOLEAN DEFAULT false               -- accepted for compatibility; see "cache" in task
) RETURNS JSONB AS $$
# PL/Python binds the list of all arguments to "args": the "args" parameter is args[1].
@BOOT@
return GD["pgml_api"].transform(task=task, args=args[1], inputs=inputs, task_is_json=True)
$$ LANGUAGE plpython3u IMMUTABLE STRICT PARALLEL UNSAFE SET search_path = pg_catalog, pg_temp;

CREATE OR REPLACE FUNCTION pgml.transform(
    task TEXT,                                -- a task name, or a task object as JSON text
    args JSONB DEFAULT '{}',                  -- kwargs of the pipeline call
    inputs TEXT[] DEFAULT ARRAY[]::pg_catalog.text[],    -- one item per input
    cache BOOLEAN DEFAULT false               -- accepted for compatibility; see "cache" in task
) RETURNS JSONB AS $$
# PL/Python binds the list of all arguments to "args": the "args" parameter is args[1].
@BOOT@
return GD["pgml_api"].transform(task=task, args=args[1], inputs=inputs, task_is_json=False)
$$ LANGUAGE plpython3u IMMUTABLE STRICT PARALLEL UNSAFE SET search_path = pg_catalog, pg_temp;

CREATE OR REPLACE FUNCTION pgml.transform(
    task JSONB,                               -- {"task": "conversational", "model": ...}
    args JSONB DEFAULT '{}',                  -- generate() kwargs (max_tokens accepted)
    inputs JSONB[] DEFAULT ARRAY[]::pg_catalog.jsonb[],  -- chat messages {"role", "content"}
    cache BOOLEAN DEFAULT false               -- accepted for compatibility; see "cache" in task
) RETURNS JSONB AS $$
# PL/Python binds the list of all arguments to "args": the "args" parameter is args[1].
@BOOT@
return GD["pgml_api"].transform_chat(task=task, args=args[1], inputs=inputs, task_is_json=True)
$$ LANGUAGE plpython3u IMMUTABLE STRICT PARALLEL UNSAFE SET search_path = pg_catalog, pg_temp;

CREATE OR REPLACE FUNCTION pgml.transform(
    task TEXT,                                -- "conversational", or a task object as JSON text
    args JSONB DEFAULT '{}',                  -- generate() kwargs (max_tokens accepted)
    inputs JSONB[] DEFAULT ARRAY[]::pg_catalog.jsonb[],  -- chat messages {"role", "content"}
    cache BOOLEAN DEFAULT false               -- accepted for compatibility; see "cache" in task
) RETURNS JSONB AS $$
# PL/Python binds the list of all arguments to "args": the "args" parameter is args[1].
@BOOT@
return GD["pgml_api"].transform_chat(task=task, args=args[1], inputs=inputs, task_is_json=False)
$$ LANGUAGE plpython3u IMMUTABLE STRICT PARALLEL UNSAFE SET search_path = pg_catalog, pg_temp;

-- (+) BYTEA[] inputs: audio (WAV, FLAC, OGG ...) and image (PNG, JPEG ...) files for the audio
-- and vision pipelines. Calls that resolved before resolve the same way.
CREATE OR REPLACE FUNCTION pgml.transform(
    task JSONB,                               -- {"task": "automatic-speech-recognition", "model": ...}
    args JSONB DEFAULT '{}',                  -- kwargs of the pipeline call
    inputs BYTEA[] DEFAULT ARRAY[]::pg_catalog.bytea[],  -- one file per input
    cache BOOLEAN DEFAULT false               -- accepted for compatibility; see "cache" in task
) RETURNS JSONB AS $$
# PL/Python binds the list of all arguments to "args": the "args" parameter is args[1].
@BOOT@
return GD["pgml_api"].transform_bytes(task=task, args=args[1], inputs=inputs, task_is_json=True)
$$ LANGUAGE plpython3u IMMUTABLE STRICT PARALLEL UNSAFE SET search_path = pg_catalog, pg_temp;

CREATE OR REPLACE FUNCTION pgml.transform(
    task TEXT,                                -- a task name, or a task object as JSON text
    args JSONB DEFAULT '{}',                  -- kwargs of the pipeline call
    inputs BYTEA[] DEFAULT ARRAY[]::pg_catalog.bytea[],  -- one file per input
    cache BOOLEAN DEFAULT false               -- accepted for compatibility; see "cache" in task
) RETURNS JSONB AS $$
# PL/Python binds the list of all arguments to "args": the "args" parameter is args[1].
@BOOT@
return GD["pgml_api"].transform_bytes(task=task, args=args[1], inputs=inputs, task_is_json=False)
$$ LANGUAGE plpython3u IMMUTABLE STRICT PARALLEL UNSAFE SET search_path = pg_catalog, pg_temp;

CREATE OR REPLACE FUNCTION pgml.transform_stream(
    task JSONB,                               -- {"task": "text-generation", "model": ...}
    args JSONB DEFAULT '{}',                  -- generate() kwargs (max_tokens accepted)
    input TEXT DEFAULT '',                    -- the prompt
    cache BOOLEAN DEFAULT false               -- accepted for compatibility; see "cache" in task
) RETURNS SETOF JSONB AS $$
# PL/Python binds the list of all arguments to "args": the "args" parameter is args[1].
@BOOT@
return GD["pgml_api"].transform_stream(task=task, args=args[1], input=input, task_is_json=True)
$$ LANGUAGE plpython3u IMMUTABLE STRICT PARALLEL UNSAFE SET search_path = pg_catalog, pg_temp;

CREATE OR REPLACE FUNCTION pgml.transform_stream(
    task TEXT,                                -- a task name, or a task object as JSON text
    args JSONB DEFAULT '{}',                  -- generate() kwargs (max_tokens accepted)
    input TEXT DEFAULT '',                    -- the prompt
    cache BOOLEAN DEFAULT false               -- accepted for compatibility; see "cache" in task
) RETURNS SETOF JSONB AS $$
# PL/Python binds the list of all arguments to "args": the "args" parameter is args[1].
@BOOT@
return GD["pgml_api"].transform_stream(task=task, args=args[1], input=input, task_is_json=False)
$$ LANGUAGE plpython3u IMMUTABLE STRICT PARALLEL UNSAFE SET search_path = pg_catalog, pg_temp;

CREATE OR REPLACE FUNCTION pgml.transform_stream(
    task JSONB,                               -- {"task": "conversational", "model": ...}
    args JSONB DEFAULT '{}',                  -- generate() kwargs (max_tokens accepted)
    inputs JSONB[] DEFAULT ARRAY[]::pg_catalog.jsonb[],  -- chat messages {"role", "content"}
    cache BOOLEAN DEFAULT false               -- accepted for compatibility; see "cache" in task
) RETURNS SETOF JSONB AS $$
# PL/Python binds the list of all arguments to "args": the "args" parameter is args[1].
@BOOT@
return GD["pgml_api"].transform_stream_chat(task=task, args=args[1], inputs=inputs, task_is_json=True)
$$ LANGUAGE plpython3u IMMUTABLE STRICT PARALLEL UNSAFE SET search_path = pg_catalog, pg_temp;

CREATE OR REPLACE FUNCTION pgml.transform_stream(
    task TEXT,                                -- "conversational", or a task object as JSON text
    args JSONB DEFAULT '{}',                  -- generate() kwargs (max_tokens accepted)
    inputs JSONB[] DEFAULT ARRAY[]::pg_catalog.jsonb[],  -- chat messages {"role", "content"}
    cache BOOLEAN DEFAULT false               -- accepted for compatibility; see "cache" in task
) RETURNS SETOF JSONB AS $$
# PL/Python binds the list of all arguments to "args": the "args" parameter is args[1].
@BOOT@
return GD["pgml_api"].transform_stream_chat(task=task, args=args[1], inputs=inputs, task_is_json=False)
$$ LANGUAGE plpython3u IMMUTABLE STRICT PARALLEL UNSAFE SET search_path = pg_catalog, pg_temp;

