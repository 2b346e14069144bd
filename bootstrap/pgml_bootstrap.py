"""Runs once per backend, before pgml_py can be imported: activates the venv and hands every
SQL shim pgml_py.api through GD["pgml_api"].

Installed into PL/Python's site-packages, and beside pgml.control for 1.0's shims, which append
that directory to sys.path (make install fills in the @...@ paths). It serves the pgml_py of every
installed extension version (a 1.0 database runs 1.0's pgml_py until ALTER EXTENSION pgml
UPDATE): keep the functions below that older pgml_py versions call.

It never starts in parallel mode: there PostgreSQL refuses to apply the pgml.* settings of the
configuration files when pgml defines them ("cannot be set during a parallel operation"), so the
whitelist would be empty and pgml.venv could name code the server never chose. pgml's shims are
PARALLEL UNSAFE (1.3), so a query that calls one never enters parallel mode; boot() refuses
anything else. Settings
and the caller's privileges are read from the server's own functions through pgml_native (every
ctypes binding, checked per PostgreSQL major); each of those never raises an ERROR (an ERROR
thrown through Python frames would corrupt the interpreter).
"""
import os
import site
import sys

import pgml_native  # every binding to the server's own functions (beside this file)

INSTALLED_VENV = "@PGML_VENV@"
INSTALLED_MODEL_STORE = "@PGML_MODEL_STORE@"

_server = pgml_native.server()
_defined = set()  # settings (and the pgml prefix) this backend has declared


# Values a newer release's pgml.conf may hold that an older pgml_py does not parse, read by that
# older version as unset (its own default): 1.0 and 1.1 took pgml.omp_num_threads >= 1 only, and
# 1.2's default 0 (automatic) would fail every call of a database still on them (their own venv).
_UNSET_FOR = {"1.0": {("pgml.omp_num_threads", "0")}, "1.1": {("pgml.omp_num_threads", "0")}}
_serving = {"version": None}  # the pgml_py version boot() imported


def setting(name):
    """current_setting(name, true) without a query: None when the setting does not exist."""
    value = _server.lib.GetConfigOption(name.encode(), True, False)
    if value is None:
        return None
    value = value.decode()
    if (name, value) in _UNSET_FOR.get(_serving["version"], ()):
        return None
    return value


def reset_setting(name):
    """The value RESET would restore: from the configuration files, the command line or a
    superuser's ALTER ROLE/DATABASE SET (non-superusers cannot set placeholders that way)."""
    if setting(name) is None:  # GetConfigOptionResetString raises for unknown names
        return None
    value = _server.lib.GetConfigOptionResetString(name.encode())
    return None if value is None else value.decode()


def is_superuser():
    return bool(_server.lib.superuser())


def in_parallel_mode():
    return bool(_server.lib.IsInParallelMode())


def current_user_id():
    """The oid of current_user (SET ROLE and SECURITY DEFINER included), without a query: what
    pgml's per-connection caches and memos are keyed by."""
    return _server.current_user_id()


def statement_started():
    """statement_timestamp() in microseconds: set anew for each statement a client sends."""
    return _server.lib.GetCurrentStatementStartTimestamp()


def interrupt_pending():
    """True when a cancel, statement_timeout or terminate waits for CHECK_FOR_INTERRUPTS: lets
    pgml check between batches for the price of reading one variable."""
    return _server.interrupt_pending()


def snapshot_identity():
    """What decides which committed rows the active snapshot sees: equal values mean the same
    visible catalog (for a fixed xmax, the in-progress list only shrinks, so its length tells it;
    curcid tells this transaction's own writes apart). None when it cannot be read (no active
    snapshot, or a server whose SnapshotData layout is not known here: pgml_native)."""
    return _server.snapshot_identity()


def define_setting(name, kind, default, description, superuser_only, check=None):
    """Declares a pgml.* setting as a real one in this backend: SHOW lists it, PostgreSQL checks
    bool and int values, and a superuser_only one takes effect only from the configuration files,
    ALTER SYSTEM, the command line or a superuser (SET, ALTER ROLE/DATABASE SET). A value that a
    non-superuser set before (SET, set_config, connection options) is dropped here with
    PostgreSQL's WARNING "permission denied to set parameter"; a later SET is an ERROR.
    check (string settings): value -> None to accept, or a hint to refuse it (22023)."""
    if name in _defined:
        return
    _server.define_setting(name, kind, default, description,
                           pgml_native.PGC_SUSET if superuser_only else pgml_native.PGC_USERSET, check)
    _defined.add(name)


def reserve_prefix():
    """After every setting is defined: SET pgml.<unknown> becomes an error (a typo is not silently
    a new placeholder), and such placeholders are dropped with a WARNING."""
    if "pgml" not in _defined:
        _defined.add("pgml")
        _server.lib.MarkGUCPrefixReserved(b"pgml")


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
    configuration may point the server at other code: pgml.venv is defined superuser-only before
    it is read, which drops a value a non-superuser set (connection options included)."""
    define_setting("pgml.venv", "string", "", "venv to import from; empty = the one make install built", True)
    return (setting("pgml.venv") or "").strip('"') or INSTALLED_VENV


def boot(GD, plpy):
    if in_parallel_mode():
        plpy.error("pgml cannot start inside a parallel query",
                   detail="In parallel mode PostgreSQL does not apply the pgml.* settings of the server's "
                          "configuration, and a parallel worker never has them.",
                   hint="pgml's own functions are PARALLEL UNSAFE: run ALTER EXTENSION pgml UPDATE if this "
                        "database has older ones, and do not wrap them in PARALLEL SAFE functions.",
                   sqlstate="0A000")
    if _server.refused:  # a server major pgml_native was not checked against: say what is off
        plpy.warning(_server.refused)
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
    rows = plpy.execute("SELECT extversion FROM pg_catalog.pg_extension WHERE extname = 'pgml'")
    installed = rows[0]["extversion"] if rows else None
    if installed != pgml_py.EXTENSION_VERSION:
        plpy.error("pgml_py %s does not match the installed extension %s"
                   % (pgml_py.EXTENSION_VERSION, installed),
                   hint="Run ALTER EXTENSION pgml UPDATE, or make install for the matching version.",
                   sqlstate="55000")
    _serving["version"] = pgml_py.EXTENSION_VERSION
    pgml_py.api.startup(model_store_default=INSTALLED_MODEL_STORE)
    GD["pgml_api"] = pgml_py.api
