------------------------------------------------------------------------------------------
-- Vector math, for REAL[] and DOUBLE PRECISION[]: the result follows the input.
-- Generated in loops because every function exists once per element type.
------------------------------------------------------------------------------------------
DO $do$
DECLARE
    t TEXT;
    f RECORD;
    shim CONSTANT TEXT := $shim$
CREATE OR REPLACE FUNCTION pgml.%1$I(%2$s) RETURNS %3$s AS $py$
@BOOT@
return GD["pgml_api"].%4$s
$py$ LANGUAGE plpython3u IMMUTABLE STRICT PARALLEL UNSAFE SET search_path = pg_catalog, pg_temp$shim$;
BEGIN
FOREACH t IN ARRAY ARRAY['REAL', 'DOUBLE PRECISION'] LOOP
    -- add(vector, addend) ... with a scalar or an array of the same length
    FOR f IN SELECT * FROM (VALUES ('add', 'addend'), ('subtract', 'subtahend'),
                                   ('multiply', 'multiplicand'), ('divide', 'dividend')) v(name, arg)
    LOOP
        EXECUTE pg_catalog.format(shim, f.name, pg_catalog.format('vector %s[], %I %s', t, f.arg, t), t OPERATOR(pg_catalog.||) '[]',
                       pg_catalog.format('vector_elementwise(%L, vector, %s)', f.name, f.arg));
        EXECUTE pg_catalog.format(shim, f.name, pg_catalog.format('vector %s[], %I %s[]', t, f.arg, t), t OPERATOR(pg_catalog.||) '[]',
                       pg_catalog.format('vector_elementwise(%L, vector, %s)', f.name, f.arg));
    END LOOP;
    FOR f IN SELECT * FROM (VALUES ('l0'), ('l1'), ('l2'), ('max')) v(kind) LOOP
        EXECUTE pg_catalog.format(shim, 'norm_' OPERATOR(pg_catalog.||) f.kind, pg_catalog.format('vector %s[]', t), t,
                       pg_catalog.format('vector_norm(%L, vector)', f.kind));
    END LOOP;
    FOR f IN SELECT * FROM (VALUES ('l1'), ('l2'), ('max')) v(kind) LOOP
        EXECUTE pg_catalog.format(shim, 'normalize_' OPERATOR(pg_catalog.||) f.kind, pg_catalog.format('vector %s[]', t), t OPERATOR(pg_catalog.||) '[]',
                       pg_catalog.format('vector_normalize(%L, vector)', f.kind));
    END LOOP;
    FOR f IN SELECT * FROM (VALUES ('distance_l1', 'l1'), ('distance_l2', 'l2'),
                                   ('dot_product', 'dot'), ('cosine_similarity', 'cosine')) v(name, kind)
    LOOP
        EXECUTE pg_catalog.format(shim, f.name, pg_catalog.format('vector %s[], other %s[]', t, t), t,
                       pg_catalog.format('vector_distance(%L, vector, other)', f.kind));
    END LOOP;
    -- Element-wise aggregates: NULL rows skipped (strict step), no rows -> '{}'.
    FOR f IN SELECT * FROM (VALUES ('sum'), ('min'), ('max'), ('min_abs'), ('max_abs')) v(kind) LOOP
        EXECUTE pg_catalog.format(shim, '_' OPERATOR(pg_catalog.||) f.kind OPERATOR(pg_catalog.||) '_step', pg_catalog.format('state %s[], value %s[]', t, t), t OPERATOR(pg_catalog.||) '[]',
                       pg_catalog.format('vector_aggregate(%L, state, value)', f.kind));
        EXECUTE pg_catalog.format('CREATE OR REPLACE AGGREGATE pgml.%I(%s[]) (SFUNC = pgml.%I, STYPE = %s[], '
                       'COMBINEFUNC = pgml.%I, INITCOND = ''{}'', PARALLEL = UNSAFE)',
                       f.kind, t, '_' OPERATOR(pg_catalog.||) f.kind OPERATOR(pg_catalog.||) '_step', t, '_' OPERATOR(pg_catalog.||) f.kind OPERATOR(pg_catalog.||) '_step');
    END LOOP;
END LOOP;
END
$do$;

