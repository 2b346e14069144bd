-- pgml.embed with the packaged sentence-transformers/all-MiniLM-L6-v2 (README "Embeddings and
-- chunking"): 384 dimensions, REAL[], a few values rounded, normalization, the batch form in input
-- order, the cast to pgvector, similar texts closer than unrelated ones, and errors. Values are
-- shown from "backend": "torch" (the same on every CPU); the default (pgml.embed_backend auto, the
-- fastest runtime measured on this CPU: docs/embedding.md) agrees with it at cosine >= 0.9999.
\set VERBOSITY default
\set SHOW_CONTEXT never
CREATE TEMP TABLE e AS
SELECT pgml.embed('sentence-transformers/all-MiniLM-L6-v2', 'PostgreSQL is a relational database.', '{"backend": "torch"}') AS v;
SELECT array_length(v, 1) AS dims, array_ndims(v) AS ndims, pg_typeof(v) AS type,
       (SELECT array_agg(round(x::numeric, 4)) FROM unnest(v[1:5]) x) AS first_five,
       round(pgml.norm_l2(v)::numeric, 4) AS norm
FROM e;
-- The same text gives the same embedding; the model ends in a Normalize layer, so the norm is 1
-- with or without normalize_embeddings.
SELECT pgml.embed('sentence-transformers/all-MiniLM-L6-v2', 'PostgreSQL is a relational database.', '{"backend": "torch"}') = v AS same,
       round(pgml.norm_l2(pgml.embed('sentence-transformers/all-MiniLM-L6-v2', 'PostgreSQL is a relational database.',
                                     '{"normalize_embeddings": true}'))::numeric, 4) AS normalized_norm
FROM e;
-- Named arguments, as the client SDK calls it; the batch form: one row per input, in input order.
SELECT pgml.cosine_similarity(
           pgml.embed(transformer => 'sentence-transformers/all-MiniLM-L6-v2', text => 'PostgreSQL is a relational database.',
                      kwargs => '{}'), v) >= 0.9999 AS default_agrees_with_torch
FROM e;
SELECT row_number() OVER () AS n, array_length(b, 1) AS dims, round(pgml.cosine_similarity(b, e.v)::numeric, 4) AS similarity
FROM pgml.embed('sentence-transformers/all-MiniLM-L6-v2',
                ARRAY['PostgreSQL is a relational database.', 'Postgres stores tables of rows.', 'The cat sat on the mat.'],
                '{"backend": "torch"}') b, e;
-- The cast to pgvector and a cosine distance.
SELECT round((pgml.embed('sentence-transformers/all-MiniLM-L6-v2', 'hello world', '{"backend": "torch"}')::vector(384)
              <=> pgml.embed('sentence-transformers/all-MiniLM-L6-v2', 'hello there', '{"backend": "torch"}')::vector(384))::numeric, 4)
       AS cosine_distance;
-- STRICT: NULL text gives NULL.
SELECT pgml.embed('sentence-transformers/all-MiniLM-L6-v2', NULL::text) IS NULL AS null_text;

-- Errors: a model that is neither in the model store nor reachable (42704; terse: its DETAIL quotes
-- the Hugging Face library and its HINT the model store path), kwargs not a JSON object (22023).
\set VERBOSITY terse
SELECT pgml.embed('pgml-regress/no-such-model', 'hello');
\echo :LAST_ERROR_SQLSTATE
\set VERBOSITY default
SELECT pgml.embed('sentence-transformers/all-MiniLM-L6-v2', 'hello', '"normalize"');
\echo :LAST_ERROR_SQLSTATE
