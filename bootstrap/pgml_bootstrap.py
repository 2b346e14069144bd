"""Runs once per backend, before pgml_py can be imported: activates the venv and hands every
SQL shim pgml_py.api through GD["pgml_api"].

Installed beside pgml.control (make install fills in the @...@ paths). It runs no query
(SPI): PL/Python wraps every query in a subtransaction, which PostgreSQL forbids in parallel
mode, and pgml's IMMUTABLE PARALLEL SAFE functions run in parallel workers. Settings and the
caller's privileges are read from the server's own functions through ctypes; each of those
never raises an ERROR (an ERROR thrown through Python frames would corrupt the interpreter).
"""
import ctypes
import os
import site
import sys

INSTALLED_VENV = "@PGML_VENV@"
INSTALLED_MODEL_STORE = "@PGML_MODEL_STORE@"

_server = ctypes.CDLL(None)  # the postgres executable's exported functions
_server.GetConfigOption.restype = ctypes.c_char_p
_server.GetConfigOption.argtypes = [ctypes.c_char_p, ctypes.c_bool, ctypes.c_bool]
_server.GetConfigOptionResetString.restype = ctypes.c_char_p
_server.GetConfigOptionResetString.argtypes = [ctypes.c_char_p]
_server.superuser.restype = ctypes.c_bool
_server.IsInParallelMode.restype = ctypes.c_bool
_server.GetCurrentStatementStartTimestamp.restype = ctypes.c_int64


def setting(name):
    """current_setting(name, true) without a query: None when the setting does not exist."""
    value = _server.GetConfigOption(name.encode(), True, False)
    return None if value is None else value.decode()


def reset_setting(name):
    """The value RESET would restore: from the configuration files, the command line or a
    superuser's ALTER ROLE/DATABASE SET (non-superusers cannot set placeholders that way)."""
    if setting(name) is None:  # GetConfigOptionResetString raises for unknown names
        return None
    value = _server.GetConfigOptionResetString(name.encode())
    return None if value is None else value.decode()


def is_superuser():
    return bool(_server.superuser())


def in_parallel_mode():
    return bool(_server.IsInParallelMode())


def statement_started():
    """statement_timestamp() in microseconds: set anew for each statement a client sends."""
    return _server.GetCurrentStatementStartTimestamp()


def activate(venv, plpy):
    """Puts venv's site-packages first on sys.path; False when venv does not exist."""
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
    if site_packages in sys.path[:1]:
        return True
    before = list(sys.path)
    site.addsitedir(site_packages)
    # The venv's packages must win over Debian's dist-packages.
    sys.path[:] = [p for p in sys.path if p not in before] + before
    return True


def chosen_venv(plpy):
    """pgml.venv if set, else the venv make install built. Only a superuser or the server's
    configuration may point the server at other code: any role can SET a placeholder."""
    value = (setting("pgml.venv") or "").strip('"')
    if not value:
        return INSTALLED_VENV
    configured = (reset_setting("pgml.venv") or "").strip('"')
    if value != configured and not is_superuser():
        plpy.error("only a superuser may set pgml.venv",
                   detail='pgml.venv is "%s", but the server configuration says "%s".' % (value, configured),
                   hint="RESET pgml.venv, or ask an administrator to set it in postgresql.conf.",
                   sqlstate="42501")
    return value


def boot(GD, plpy):
    venv = chosen_venv(plpy)
    if not activate(venv, plpy):
        plpy.error('pgml venv "%s" does not exist' % venv,
                   hint="Run make install in the pgml source tree, or point pgml.venv at the venv "
                        "in postgresql.conf.",
                   sqlstate="58P01")
    try:
        import pgml_py.api
    except ImportError as e:
        plpy.error('pgml_py cannot be imported from venv "%s"' % venv, detail=str(e),
                   hint="Run make install in the pgml source tree to install it.", sqlstate="58P01")
    if not in_parallel_mode():  # a parallel worker cannot query; its leader checks
        rows = plpy.execute("SELECT extversion FROM pg_catalog.pg_extension WHERE extname = 'pgml'")
        installed = rows[0]["extversion"] if rows else None
        if installed != pgml_py.EXTENSION_VERSION:
            plpy.error("pgml_py %s does not match the installed extension %s"
                       % (pgml_py.EXTENSION_VERSION, installed),
                       hint="Run ALTER EXTENSION pgml UPDATE, or make install for the matching version.",
                       sqlstate="55000")
    pgml_py.api.startup(model_store_default=INSTALLED_MODEL_STORE)
    GD["pgml_api"] = pgml_py.api
