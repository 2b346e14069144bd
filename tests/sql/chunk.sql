-- pgml.chunk (README "Embeddings and chunking"): LangChain splitters, rows numbered from 1,
-- kwargs passed to the splitter, named-argument calls as the client SDK sends them, and errors.
\set VERBOSITY default
\set SHOW_CONTEXT never

-- recursive_character: paragraphs, then lines, then words; chunk_overlap repeats the tail.
SELECT * FROM pgml.chunk('recursive_character',
    'pgml brings machine learning to PostgreSQL. Embeddings, transformers and classic models all run '
    'next to your data, so there is nothing to copy out and nothing to keep in sync.',
    '{"chunk_size": 40, "chunk_overlap": 10}');
-- Paragraphs first, then words where a paragraph is too long; with the default kwargs (chunk_size
-- 4000) a 499-character text stays one chunk.
SELECT * FROM pgml.chunk('recursive_character', E'First paragraph.\n\nSecond paragraph, a little longer.\n\nThird.',
    '{"chunk_size": 20, "chunk_overlap": 0}');
SELECT chunk_index, length(chunk) FROM pgml.chunk('recursive_character', repeat('word ', 100));
-- Named arguments, as the client SDK calls it; the result types.
SELECT chunk_index, chunk, pg_typeof(chunk_index) AS index_type, pg_typeof(chunk) AS chunk_type
FROM pgml.chunk(splitter => 'character', text => 'a-b-c-d-e-f', kwargs => '{"separator": "-", "chunk_size": 3, "chunk_overlap": 0}');
-- Characters, not bytes.
SELECT chunk_index, chunk, length(chunk) FROM pgml.chunk('character', 'Ünïcödé 日本語 text counts characters',
    '{"separator": " ", "chunk_size": 12, "chunk_overlap": 0}');
-- markdown: headings and code fences are separators.
SELECT * FROM pgml.chunk('markdown', E'# Install\n\nRun the installer.\n\n## Use\n\nCall pgml.chunk.\n\n```sql\nSELECT 1;\n```',
    '{"chunk_size": 30, "chunk_overlap": 0}');
-- python: classes and functions are separators.
SELECT * FROM pgml.chunk('python', E'import math\n\n\nclass Vector:\n    def norm(self):\n        return math.sqrt(self.x)\n\n\ndef main():\n    print(Vector().norm())\n',
    '{"chunk_size": 40, "chunk_overlap": 0}');
-- latex: sections and environments are separators.
SELECT * FROM pgml.chunk('latex', E'\\section{Intro}\nModels train where the data lives.\n\\section{Method}\nWe split, then embed.',
    '{"chunk_size": 40, "chunk_overlap": 0}');
-- Empty text: no rows. STRICT: NULL text gives no rows either.
SELECT count(*) AS empty_text FROM pgml.chunk('recursive_character', '');
SELECT count(*) AS null_text FROM pgml.chunk('recursive_character', NULL);
-- One chunk per row of a table, as in the README.
CREATE TEMP TABLE docs (id int, body text);
INSERT INTO docs VALUES (1, 'alpha beta gamma delta'), (2, 'epsilon zeta');
SELECT d.id, c.chunk_index, c.chunk
FROM docs d, pgml.chunk('recursive_character', d.body, '{"chunk_size": 11, "chunk_overlap": 0}') c
ORDER BY d.id, c.chunk_index;

-- Errors (22023): an unknown splitter, bad sizes, kwargs that are not an object or unknown to LangChain.
SELECT * FROM pgml.chunk('sentences', 'some text');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM pgml.chunk('recursive_character', 'some text', '{"chunk_size": 10, "chunk_overlap": 20}');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM pgml.chunk('recursive_character', 'some text', '{"chunk_size": 0}');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM pgml.chunk('recursive_character', 'some text', '{"chunk_size": "big"}');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM pgml.chunk('recursive_character', 'some text', '[1, 2]');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM pgml.chunk('character', 'some text', '{"chunk_sise": 10}');
\echo :LAST_ERROR_SQLSTATE
