-- pgml demo: semantic search with pgml.embed + pgvector, and chunking with pgml.chunk.
\set ON_ERROR_STOP on
\set QUIET on
\pset footer off
SET client_min_messages = warning;
DROP TABLE IF EXISTS demo_documents;
CREATE TABLE demo_documents (
    id BIGSERIAL PRIMARY KEY,
    body TEXT NOT NULL,
    embedding vector(384)
);
INSERT INTO demo_documents (body) VALUES
    ('PostgreSQL is a powerful, open source object-relational database system.'),
    ('The Eiffel Tower is located in Paris, France.'),
    ('Machine learning models can run inside the database next to the data.'),
    ('A good espresso needs finely ground coffee and hot water under pressure.'),
    ('Transformers are neural networks that rely on attention mechanisms.'),
    ('The Pacific is the largest and deepest of the oceans on Earth.');

\echo 'Embedding 6 documents with sentence-transformers/all-MiniLM-L6-v2 ...'
UPDATE demo_documents
SET embedding = pgml.embed('sentence-transformers/all-MiniLM-L6-v2', body)::vector(384);
CREATE INDEX ON demo_documents USING hnsw (embedding vector_cosine_ops);

\echo 'Semantic search: "Where can I run AI models?"'
WITH query AS (
    SELECT pgml.embed('sentence-transformers/all-MiniLM-L6-v2', 'Where can I run AI models?')::vector(384) AS e
)
SELECT id, round((embedding <=> query.e)::numeric, 4) AS cosine_distance, body
FROM demo_documents, query
ORDER BY embedding <=> query.e
LIMIT 3;

\echo 'Chunking a paragraph (recursive_character, chunk_size 80, chunk_overlap 10):'
SELECT chunk_index, chunk
FROM pgml.chunk('recursive_character',
    'pgml brings machine learning to PostgreSQL. Embeddings, transformers and classic models '
    'all run next to your data, so there is nothing to copy out and nothing to keep in sync. '
    'Chunk long documents first, embed each chunk, and index the vectors with pgvector.',
    '{"chunk_size": 80, "chunk_overlap": 10}');
DROP TABLE demo_documents;
