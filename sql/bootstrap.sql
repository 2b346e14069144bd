------------------------------------------------------------------------------------------
-- Bootstrap: put the venv on sys.path once per backend and hand every shim pgml_py.api.
-- This is the only Python that lives in SQL: pgml_py cannot be imported before it runs.
------------------------------------------------------------------------------------------

-- Defines GD["pgml_activate"](venv) -> bool, shared by activate_venv and _bootstrap.
CREATE OR REPLACE FUNCTION pgml._define_activate() RETURNS VOID AS $$
def activate(venv):
    import os, sys, site
    if not os.path.isdir(venv):
        return False
    want = "%d.%d" % sys.version_info[:2]
    have = None
    cfg = os.path.join(venv, "pyvenv.cfg")  # stdlib venv and virtualenv >= 20 both write it
    if os.path.isfile(cfg):
        with open(cfg) as f:
            for line in f:
                key, _, value = line.partition("=")
                if key.strip() in ("version", "version_info"):
                    have = ".".join(value.strip().split(".")[:2])
                    break
    site_packages = os.path.join(venv, "lib", "python" + want, "site-packages")
    if (have and have != want) or not os.path.isdir(site_packages):
        plpy.error('venv "%s" was not built for Python %s' % (venv, want),
                   detail="Its pyvenv.cfg says Python %s; PL/Python embeds %s %s."
                          % (have or "unknown", sys.executable, want),
                   hint="Rebuild it with %s -m venv (make install does this)." % sys.executable,
                   sqlstate="55000")
    if GD.get("pgml_venv") == venv:
        return True
    before = list(sys.path)
    site.addsitedir(site_packages)
    # The venv's packages must win over Debian's dist-packages.
    sys.path[:] = [p for p in sys.path if p not in before] + before
    GD["pgml_venv"] = venv
    return True
GD["pgml_activate"] = activate
$$ LANGUAGE plpython3u VOLATILE;

-- Activates a venv (stdlib venv or virtualenv) in this backend; false when it does not exist.
-- Superuser only: a venv's code runs as the server.
CREATE OR REPLACE FUNCTION pgml.activate_venv(
    venv TEXT -- the venv's directory
) RETURNS BOOLEAN AS $$
if "pgml_activate" not in GD:
    plpy.execute("SELECT pgml._define_activate()")
return GD["pgml_activate"](venv)
$$ LANGUAGE plpython3u VOLATILE STRICT;
REVOKE ALL ON FUNCTION pgml.activate_venv(TEXT) FROM PUBLIC;

-- pgml.venv as the server's configuration files set it (ALTER SYSTEM included), for
-- _bootstrap's check; SECURITY DEFINER because pg_file_settings is for superusers.
CREATE OR REPLACE FUNCTION pgml._configured_venv() RETURNS TEXT AS $$
SELECT setting FROM pg_catalog.pg_file_settings
WHERE name = 'pgml.venv' AND applied ORDER BY seqno DESC LIMIT 1
$$ LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog;

-- Run by every shim the first time in a backend; leaves pgml_py.api in GD["pgml_api"].
CREATE OR REPLACE FUNCTION pgml._bootstrap() RETURNS VOID AS $$
if "pgml_api" in GD:
    return
venv = "@PGML_VENV@"  # set by make install (PGML_VENV)
row = plpy.execute("""
    SELECT pg_catalog.current_setting('pgml.venv', true) AS setting, pgml._configured_venv() AS configured,
           (SELECT rolsuper FROM pg_catalog.pg_roles WHERE rolname = current_user) AS superuser""")[0]
setting = (row["setting"] or "").strip('"')
if setting:
    # A venv's code runs as the server: only a superuser or the server's configuration
    # files may point elsewhere (any role can SET a placeholder setting).
    if not row["superuser"] and setting != (row["configured"] or "").strip('"'):
        plpy.error("only a superuser may set pgml.venv",
                   detail='pgml.venv is "%s", but the server configuration says "%s".'
                          % (setting, row["configured"] or ""),
                   hint="RESET pgml.venv, or ask an administrator to set it in postgresql.conf.",
                   sqlstate="42501")
    venv = setting
if "pgml_activate" not in GD:
    plpy.execute("SELECT pgml._define_activate()")
if not GD["pgml_activate"](venv):
    plpy.error('pgml venv "%s" does not exist' % venv,
               hint="Run make install in the pgml source tree, or point pgml.venv at the venv in postgresql.conf.",
               sqlstate="58P01")
try:
    import pgml_py.api
except ImportError as e:
    plpy.error('pgml_py cannot be imported from venv "%s"' % venv, detail=str(e),
               hint="Run make install in the pgml source tree to install it.", sqlstate="58P01")
ext = plpy.execute("SELECT extversion FROM pg_catalog.pg_extension WHERE extname = 'pgml'")
ext = ext[0]["extversion"] if ext else None
if ext != pgml_py.EXTENSION_VERSION:
    plpy.error("pgml_py %s does not match the installed extension %s" % (pgml_py.EXTENSION_VERSION, ext),
               hint="Run ALTER EXTENSION pgml UPDATE, or make install for the matching version.",
               sqlstate="55000")
pgml_py.api.startup(model_store_default="@PGML_MODEL_STORE@")
GD["pgml_api"] = pgml_py.api
$$ LANGUAGE plpython3u VOLATILE;

