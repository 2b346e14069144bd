------------------------------------------------------------------------------------------
-- tune / generate: fine-tune a Hugging Face model on a table (LoRA adapters by
-- default), keep it in the catalog like a trained model, and generate with it. Runs in the
-- caller's transaction: an ERROR or a cancel leaves the catalog as it was.
-- Every other shim pins search_path to pg_catalog, pg_temp, so no role's objects can capture a
-- call. train, train_joint, snapshot, tune and load_dataset keep the caller's: a relation name
-- resolves exactly as the caller's own SELECT would; their queries name every object's schema.
------------------------------------------------------------------------------------------
CREATE OR REPLACE FUNCTION pgml.tune(
    project_name TEXT,                              -- the project, created on first use
    task TEXT DEFAULT NULL,                         -- text-classification, text-pair-classification,
                                                    -- conversation, translation, summarization, text2text
    relation_name TEXT DEFAULT NULL,                -- table or view; NULL reuses the last snapshot
    y_column_name TEXT DEFAULT NULL,                -- default class/target column (else dataset_args)
    model_name TEXT DEFAULT NULL,                   -- hub name or model store name; NULL = the last one
    hyperparams JSONB DEFAULT '{}',                 -- dataset_args, training_args, lora_config, ...
    test_size REAL DEFAULT 0.25,                    -- fraction (or count) of rows held out
    test_sampling pgml.sampling DEFAULT 'stratified', -- random, last, stratified (by class)
    automatic_deploy BOOLEAN DEFAULT true,          -- deploy when better than the deployed model
    materialize_snapshot BOOLEAN DEFAULT false      -- keep the training rows in pgml.snapshot_<id>
) RETURNS TABLE (status TEXT, task TEXT, algorithm TEXT, deployed BOOLEAN) AS $$
@BOOT@
return GD["pgml_api"].tune(project_name=project_name, task=task, relation_name=relation_name,
    y_column_name=y_column_name, model_name=model_name, hyperparams=hyperparams, test_size=test_size,
    test_sampling=test_sampling, automatic_deploy=automatic_deploy, materialize_snapshot=materialize_snapshot)
$$ LANGUAGE plpython3u VOLATILE PARALLEL UNSAFE;

CREATE OR REPLACE FUNCTION pgml.generate(
    project_name TEXT,                              -- a tuned generation project (its deployed model)
    inputs TEXT,                                    -- the prompt (a conversation model: the user turn)
    config JSONB DEFAULT '{}'                       -- generate() options: max_new_tokens, do_sample, ...
) RETURNS TEXT AS $$
@BOOT@
return GD["pgml_api"].generate(project_name, [inputs], config)[0]
$$ LANGUAGE plpython3u STABLE STRICT PARALLEL UNSAFE SET search_path = pg_catalog, pg_temp;

CREATE OR REPLACE FUNCTION pgml.generate(
    project_name TEXT,                              -- a tuned generation project (its deployed model)
    inputs TEXT[],                                  -- prompts, one output each, in order
    config JSONB DEFAULT '{}'                       -- generate() options: max_new_tokens, do_sample, ...
) RETURNS TEXT[] AS $$
@BOOT@
return GD["pgml_api"].generate(project_name, inputs, config)
$$ LANGUAGE plpython3u STABLE STRICT PARALLEL UNSAFE SET search_path = pg_catalog, pg_temp;

-- (+) pgml.predict(project, 'some text') for a classifier made by pgml.tune: the class (its value
-- when the class column is numeric, else its index in the sorted classes). Without this overload
-- an untyped literal is ambiguous among predict's array and row forms.
CREATE OR REPLACE FUNCTION pgml.predict(project_name TEXT, "text" TEXT) RETURNS REAL AS $$
SELECT pgml._predict_row(project_name, NULL::BIGINT, pg_catalog.to_json("text"))
$$ LANGUAGE sql STABLE STRICT PARALLEL UNSAFE SET search_path = pg_catalog, pg_temp;
