------------------------------------------------------------------------------------------
-- Bootstrap. Every shim starts with the same line: the first call in a backend imports
-- pgml_bootstrap (installed into PL/Python's site-packages), which activates the venv and leaves
-- pgml_py.api in GD["pgml_api"]. See bootstrap/pgml_bootstrap.py.
------------------------------------------------------------------------------------------

-- Activates a venv (stdlib venv or virtualenv) in this backend; false when it does not exist.
-- Superuser only: a venv's code runs as the server.
CREATE OR REPLACE FUNCTION pgml.activate_venv(
    venv TEXT -- the venv's directory
) RETURNS BOOLEAN AS $$
import pgml_bootstrap
return pgml_bootstrap.activate(venv, plpy)
$$ LANGUAGE plpython3u VOLATILE STRICT SET search_path = pg_catalog, pg_temp;
REVOKE ALL ON FUNCTION pgml.activate_venv(TEXT) FROM PUBLIC;

