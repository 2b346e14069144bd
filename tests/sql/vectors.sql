-- Vector math (README "Vector math"): every function for REAL[] and DOUBLE PRECISION[], the
-- result type following the input, the element-wise aggregates, and the errors of bad input.
\set VERBOSITY default
\set SHOW_CONTEXT never
-- Arrays printed rounded to 4 places (values that are not exact in binary floating point).
CREATE FUNCTION pg_temp.r4(float8[]) RETURNS numeric[] LANGUAGE sql IMMUTABLE
    AS 'SELECT array_agg(round(x::numeric, 4) ORDER BY i) FROM unnest($1) WITH ORDINALITY u(x, i)';
CREATE TEMP TABLE v (a float8[], b float8[]);
INSERT INTO v VALUES ('{1,-2,0,4}', '{3,0.5,1,-2}');

-- Element-wise arithmetic with a scalar and with an array of the same length.
SELECT pgml.add(a::real[], 2::real) AS add_scalar, pgml.add(a::real[], b::real[]) AS add_array,
       pg_typeof(pgml.add(a::real[], b::real[])) AS type
FROM v;
SELECT pgml.add(a, 2::float8) AS add_scalar, pgml.add(a, b) AS add_array, pg_typeof(pgml.add(a, b)) AS type
FROM v;
SELECT pgml.subtract(a::real[], 2::real) AS real_scalar, pgml.subtract(a::real[], b::real[]) AS real_array,
       pgml.subtract(a, 2::float8) AS double_scalar, pgml.subtract(a, b) AS double_array
FROM v;
SELECT pgml.multiply(a::real[], 2::real) AS real_scalar, pgml.multiply(a::real[], b::real[]) AS real_array,
       pgml.multiply(a, 2::float8) AS double_scalar, pgml.multiply(a, b) AS double_array
FROM v;
SELECT pgml.divide(a::real[], 2::real) AS real_scalar, pgml.divide(a::real[], b::real[]) AS real_array,
       pgml.divide(a, 2::float8) AS double_scalar, pg_temp.r4(pgml.divide(a, b)) AS double_array
FROM v;
-- PostgresML's argument names, for named calls.
SELECT pgml.add(vector => ARRAY[1, 2]::real[], addend => 1::real) AS add,
       pgml.subtract(vector => ARRAY[1, 2]::real[], subtahend => 1::real) AS subtract,
       pgml.multiply(vector => ARRAY[1, 2]::float8[], multiplicand => ARRAY[3, 4]::float8[]) AS multiply,
       pgml.divide(vector => ARRAY[1, 2]::float8[], dividend => 4::float8) AS divide;
-- Division by zero follows IEEE 754.
SELECT pgml.divide(ARRAY[1, -1]::real[], 0::real) AS real, pgml.divide(ARRAY[1, -1]::float8[], 0::float8) AS double;
-- Overload resolution: NUMERIC[] and an integer go to the DOUBLE PRECISION scalar form,
-- REAL[] with an integer stays REAL.
SELECT pgml.add(ARRAY[1.0, 2.0], 3) AS numeric_array, pg_typeof(pgml.add(ARRAY[1.0, 2.0], 3)) AS type;
SELECT pgml.multiply(ARRAY[1.5, 2]::real[], 2) AS real_array, pg_typeof(pgml.multiply(ARRAY[1.5, 2]::real[], 2)) AS type;

-- Norms: non-zero count, sum of |x|, Euclidean length, max |x|.
SELECT pgml.norm_l0(a::real[]) AS l0, pgml.norm_l1(a::real[]) AS l1, round(pgml.norm_l2(a::real[])::numeric, 4) AS l2,
       pgml.norm_max(a::real[]) AS max, pg_typeof(pgml.norm_l2(a::real[])) AS type
FROM v;
SELECT pgml.norm_l0(a) AS l0, pgml.norm_l1(a) AS l1, round(pgml.norm_l2(a)::numeric, 4) AS l2, pgml.norm_max(a) AS max,
       pg_typeof(pgml.norm_l2(a)) AS type
FROM v;
-- Normalization: the vector divided by its norm.
SELECT pg_temp.r4(pgml.normalize_l1(a::real[])) AS l1, pg_temp.r4(pgml.normalize_l2(a::real[])) AS l2,
       pgml.normalize_max(a::real[]) AS max, pg_typeof(pgml.normalize_l2(a::real[])) AS type
FROM v;
SELECT pg_temp.r4(pgml.normalize_l1(a)) AS l1, pg_temp.r4(pgml.normalize_l2(a)) AS l2, pgml.normalize_max(a) AS max,
       pg_typeof(pgml.normalize_l2(a)) AS type
FROM v;
-- Distances and similarities.
SELECT pgml.distance_l1(a::real[], b::real[]) AS l1, round(pgml.distance_l2(a::real[], b::real[])::numeric, 4) AS l2,
       pgml.dot_product(a::real[], b::real[]) AS dot,
       round(pgml.cosine_similarity(a::real[], b::real[])::numeric, 4) AS cosine,
       pg_typeof(pgml.cosine_similarity(a::real[], b::real[])) AS type
FROM v;
SELECT pgml.distance_l1(a, b) AS l1, round(pgml.distance_l2(a, b)::numeric, 4) AS l2, pgml.dot_product(a, b) AS dot,
       round(pgml.cosine_similarity(a, b)::numeric, 4) AS cosine, pg_typeof(pgml.cosine_similarity(a, b)) AS type
FROM v;
SELECT round(pgml.cosine_similarity(ARRAY[1, 2, 3]::real[], ARRAY[2, 4, 6]::real[])::numeric, 4) AS parallel,
       round(pgml.cosine_similarity(ARRAY[1, 0]::float8[], ARRAY[0, 1]::float8[])::numeric, 4) AS orthogonal;
-- STRICT: a NULL argument gives NULL.
SELECT pgml.norm_l2(NULL::real[]) IS NULL AS norm_null, pgml.add(ARRAY[1]::real[], NULL::real) IS NULL AS add_null;

-- Aggregates: element-wise over rows, NULL rows skipped, the *_abs forms return absolute values.
CREATE TEMP TABLE rows_ (g int, x float8[]);
INSERT INTO rows_ VALUES (1, '{1,-2,3}'), (1, '{-4,5,-6}'), (1, NULL), (2, '{2,0,1}'), (2, '{0.5,-0.5,-8}');
SELECT g, pgml.sum(x::real[]) AS sum, pgml.min(x::real[]) AS min, pgml.max(x::real[]) AS max,
       pgml.min_abs(x::real[]) AS min_abs, pgml.max_abs(x::real[]) AS max_abs, pg_typeof(pgml.sum(x::real[])) AS type
FROM rows_ GROUP BY g ORDER BY g;
SELECT pgml.sum(x) AS sum, pgml.min(x) AS min, pgml.max(x) AS max, pgml.min_abs(x) AS min_abs,
       pgml.max_abs(x) AS max_abs, pg_typeof(pgml.sum(x)) AS type
FROM rows_;
-- No rows (or only NULL rows): an empty array.
SELECT pgml.sum(x) AS no_rows, pgml.max_abs(x::real[]) AS no_rows_real FROM rows_ WHERE false;
SELECT pgml.min(x) AS null_rows FROM rows_ WHERE x IS NULL;

-- Errors: arrays of different lengths (22000) and NULL elements (22004).
SELECT pgml.add(ARRAY[1, 2]::real[], ARRAY[1, 2, 3]::real[]);
\echo :LAST_ERROR_SQLSTATE
SELECT pgml.dot_product(ARRAY[1, 2, 3]::float8[], ARRAY[1, 2]::float8[]);
\echo :LAST_ERROR_SQLSTATE
SELECT pgml.sum(x) FROM (VALUES ('{1,2}'::float8[]), ('{1,2,3}')) t(x);
\echo :LAST_ERROR_SQLSTATE
SELECT pgml.norm_l2(ARRAY[1, NULL]::real[]);
\echo :LAST_ERROR_SQLSTATE
SELECT pgml.cosine_similarity(ARRAY[1, 2]::float8[], ARRAY[NULL, 2]::float8[]);
\echo :LAST_ERROR_SQLSTATE
SELECT pgml.max(x) FROM (VALUES ('{1,2}'::real[]), ('{NULL,2}')) t(x);
\echo :LAST_ERROR_SQLSTATE
