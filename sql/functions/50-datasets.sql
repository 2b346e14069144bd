------------------------------------------------------------------------------------------
-- load_dataset: a builtin toy dataset (breast_cancer, diabetes, digits, iris,
-- linnerud, wine) or a Hugging Face dataset into table pgml."<source>", replacing it.
-- Every other shim pins search_path to pg_catalog, pg_temp, so no role's objects can capture a
-- call. train, train_joint, snapshot, tune and load_dataset keep the caller's: a relation name
-- resolves exactly as the caller's own SELECT would; their queries name every object's schema.
------------------------------------------------------------------------------------------
CREATE OR REPLACE FUNCTION pgml.load_dataset(
    source TEXT,                -- a builtin name, or a Hugging Face dataset name or path
    subset TEXT DEFAULT NULL,   -- the Hugging Face configuration (datasets' `name`)
    "limit" BIGINT DEFAULT NULL, -- at most this many rows; NULL = all
    kwargs JSONB DEFAULT '{}'   -- more keyword arguments of datasets.load_dataset
) RETURNS TABLE (table_name TEXT, rows BIGINT) AS $$
@BOOT@
return GD["pgml_api"].load_dataset(source=source, subset=subset, limit=limit, kwargs=kwargs)
$$ LANGUAGE plpython3u VOLATILE;
