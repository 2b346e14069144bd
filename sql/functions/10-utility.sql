------------------------------------------------------------------------------------------
-- Utility functions.
------------------------------------------------------------------------------------------
CREATE OR REPLACE FUNCTION pgml.version() RETURNS TEXT AS $$
@BOOT@
return GD["pgml_api"].version()
$$ LANGUAGE plpython3u IMMUTABLE PARALLEL UNSAFE SET search_path = pg_catalog, pg_temp;

CREATE OR REPLACE FUNCTION pgml.python_version() RETURNS TEXT AS $$
@BOOT@
return GD["pgml_api"].python_version()
$$ LANGUAGE plpython3u VOLATILE SET search_path = pg_catalog, pg_temp;

CREATE OR REPLACE FUNCTION pgml.python_package_version(
    name TEXT -- the distribution's name on PyPI, e.g. 'scikit-learn'
) RETURNS TEXT AS $$
@BOOT@
return GD["pgml_api"].python_package_version(name=name)
$$ LANGUAGE plpython3u VOLATILE STRICT SET search_path = pg_catalog, pg_temp;

CREATE OR REPLACE FUNCTION pgml.python_pip_freeze() RETURNS TABLE (package TEXT) AS $$
@BOOT@
return GD["pgml_api"].python_pip_freeze()
$$ LANGUAGE plpython3u VOLATILE SET search_path = pg_catalog, pg_temp;

CREATE OR REPLACE FUNCTION pgml.validate_python_dependencies() RETURNS BOOLEAN AS $$
@BOOT@
return GD["pgml_api"].validate_python_dependencies()
$$ LANGUAGE plpython3u IMMUTABLE PARALLEL UNSAFE SET search_path = pg_catalog, pg_temp;

-- PostgresML checks its Rust shared library here; this build has none.
CREATE OR REPLACE FUNCTION pgml.validate_shared_library() RETURNS VOID AS $$
SELECT NULL::VOID
$$ LANGUAGE sql VOLATILE SET search_path = pg_catalog, pg_temp;

CREATE OR REPLACE FUNCTION pgml.xgboost_version() RETURNS TEXT AS $$
@BOOT@
return GD["pgml_api"].xgboost_version()
$$ LANGUAGE plpython3u VOLATILE SET search_path = pg_catalog, pg_temp;


-- (+) Every pgml.* setting: the value in effect, its default, where the value came from
-- (pg_settings.source) and what it does; read through the view pgml.settings.
CREATE OR REPLACE FUNCTION pgml.show_settings()
RETURNS TABLE (name TEXT, setting TEXT, default_value TEXT, source TEXT, description TEXT) AS $$
@BOOT@
return GD["pgml_api"].show_settings()
$$ LANGUAGE plpython3u VOLATILE SET search_path = pg_catalog, pg_temp;
