-- pgml.load_dataset on the builtin datasets (README "Classic ML"): table names, row counts,
-- column types, a few rows as scikit-learn ships them, a second load replacing the first, and errors.
\set VERBOSITY default
\set SHOW_CONTEXT never
BEGIN;
SELECT * FROM pgml.load_dataset('iris');
SELECT * FROM pgml.load_dataset('diabetes');
SELECT * FROM pgml.load_dataset('breast_cancer');
SELECT * FROM pgml.load_dataset('digits');
SELECT * FROM pgml.load_dataset('linnerud');
SELECT * FROM pgml.load_dataset('wine');
-- Columns and types.
SELECT table_name, string_agg(format('%s %s', quote_ident(column_name), data_type), ', ' ORDER BY ordinal_position) AS columns
FROM information_schema.columns
WHERE table_schema = 'pgml' AND table_name IN ('iris', 'diabetes', 'digits', 'linnerud', 'wine')
GROUP BY table_name ORDER BY table_name;
SELECT count(*) AS columns, count(*) FILTER (WHERE data_type = 'real') AS real_columns,
       string_agg(column_name, ', ' ORDER BY ordinal_position) FILTER (WHERE ordinal_position IN (1, 2, 11, 21, 30, 31)) AS some_names,
       string_agg(data_type, ', ') FILTER (WHERE column_name = 'malignant') AS label_type
FROM information_schema.columns WHERE table_schema = 'pgml' AND table_name = 'breast_cancer';
-- A few rows, in scikit-learn's order.
SELECT * FROM pgml.iris LIMIT 3;
SELECT target, count(*), round(avg(petal_length)::numeric, 4) AS mean_petal_length FROM pgml.iris GROUP BY target ORDER BY target;
SELECT round(age::numeric, 4) AS age, round(sex::numeric, 4) AS sex, round(bmi::numeric, 4) AS bmi, target
FROM pgml.diabetes LIMIT 3;
SELECT round(sum(target)::numeric, 1) AS sum_target, min(target), max(target) FROM pgml.diabetes;
SELECT "mean radius", "mean texture", "worst fractal dimension", malignant FROM pgml.breast_cancer LIMIT 3;
SELECT malignant, count(*) FROM pgml.breast_cancer GROUP BY malignant ORDER BY malignant;
SELECT array_dims(image) AS dims, image[1:2] AS first_two_rows, target, pg_typeof(target) AS target_type
FROM pgml.digits LIMIT 2;
SELECT count(DISTINCT target) AS classes, sum(target) AS sum_target FROM pgml.digits;
SELECT * FROM pgml.linnerud LIMIT 2;
SELECT alcohol, malic_acid, "od280/od315_of_diluted_wines", proline, target FROM pgml.wine LIMIT 2;
SELECT target, count(*) FROM pgml.wine GROUP BY target ORDER BY target;

-- Re-runnable: a second load replaces the table, whatever happened to it in between.
DELETE FROM pgml.iris WHERE target = 2;
ALTER TABLE pgml.iris ADD COLUMN note text;
SELECT * FROM pgml.load_dataset('iris');
SELECT count(*) AS rows, count(*) FILTER (WHERE target = 2) AS virginica FROM pgml.iris;
SELECT * FROM pgml.load_dataset('iris');
SELECT * FROM pgml.iris LIMIT 3;
-- limit caps the rows; subset and kwargs are ignored for builtins.
SELECT * FROM pgml.load_dataset('wine', "limit" => 10);
SELECT count(*) FROM pgml.wine;
SELECT * FROM pgml.load_dataset(source => 'linnerud', subset => 'unused', kwargs => '{"split": "train"}');

-- Errors: a source that is not a builtin while the hub is off (42704), a bad limit, a NULL source.
SELECT * FROM pgml.load_dataset('no_such_dataset');
\echo :LAST_ERROR_SQLSTATE
ROLLBACK;
SELECT * FROM pgml.load_dataset('iris', "limit" => 0);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM pgml.load_dataset(NULL);
\echo :LAST_ERROR_SQLSTATE
-- Everything above was rolled back.
SELECT to_regclass('pgml.iris') AS iris, to_regclass('pgml.digits') AS digits;
