------------------------------------------------------------------------------------------
-- Metrics with scikit-learn. Pure functions of their arguments.
------------------------------------------------------------------------------------------
CREATE OR REPLACE FUNCTION pgml.sklearn_f1_score(
    ground_truth REAL[], -- the true labels
    y_hat REAL[]         -- the predicted labels, one per true label
) RETURNS REAL AS $$
@BOOT@
return GD["pgml_api"].sklearn_f1_score(ground_truth=ground_truth, y_hat=y_hat)
$$ LANGUAGE plpython3u IMMUTABLE STRICT PARALLEL UNSAFE SET search_path = pg_catalog, pg_temp;

CREATE OR REPLACE FUNCTION pgml.sklearn_r2_score(
    ground_truth REAL[], -- the true values
    y_hat REAL[]         -- the predicted values, one per true value
) RETURNS REAL AS $$
@BOOT@
return GD["pgml_api"].sklearn_r2_score(ground_truth=ground_truth, y_hat=y_hat)
$$ LANGUAGE plpython3u IMMUTABLE STRICT PARALLEL UNSAFE SET search_path = pg_catalog, pg_temp;

CREATE OR REPLACE FUNCTION pgml.sklearn_regression_metrics(
    ground_truth REAL[], -- the true values
    y_hat REAL[]         -- the predicted values, one per true value
) RETURNS JSONB AS $$
@BOOT@
return GD["pgml_api"].sklearn_regression_metrics(ground_truth=ground_truth, y_hat=y_hat)
$$ LANGUAGE plpython3u IMMUTABLE STRICT PARALLEL UNSAFE SET search_path = pg_catalog, pg_temp;

CREATE OR REPLACE FUNCTION pgml.sklearn_classification_metrics(
    ground_truth REAL[], -- the true labels
    y_hat REAL[],        -- the predicted labels, one per true label
    num_classes BIGINT   -- the number of classes (2: binary metrics and roc_auc)
) RETURNS JSONB AS $$
@BOOT@
return GD["pgml_api"].sklearn_classification_metrics(ground_truth=ground_truth, y_hat=y_hat, num_classes=num_classes)
$$ LANGUAGE plpython3u IMMUTABLE STRICT PARALLEL UNSAFE SET search_path = pg_catalog, pg_temp;
