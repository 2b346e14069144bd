"""Files and directories on the database server that a caller names in an argument.

A model folder given as a path ("/srv/models/x", "./x"), a dataset's data_files, a cache_dir or
a subfolder with ".." read the server's disk as the postgres OS user. Like pg_read_file and COPY
FROM a file, that takes a superuser or a role with the privileges of pg_read_server_files. A hub
name found in the model store (pgml.model_store, set by the administrator) is not a path: everyone
may use those.
"""
import os

from . import errors

ROLE = "pg_read_server_files"
# Keys whose values are always read from disk (or fetched), whatever they look like: globs too.
ALWAYS_PATHS = ("data_files", "data_dir")


def is_server_path(text):
    """True when `text` names something on the server's disk rather than a hub id: absolute, ~,
    ./ or ../, a ".." part, or a name that exists relative to the backend's working directory
    (the data directory, where a bare "postgresql.conf" or "base" would be found)."""
    if not isinstance(text, str) or not text:
        return False
    if text.startswith(("/", "~", ".")) or "\\" in text or ".." in text.split("/"):
        return True
    return os.path.lexists(text)


def named_paths(value, where, always=False):
    """[(where, text)] for every string in a JSON value that names a server path; `where` says
    which argument it came from ("kwargs.model_kwargs.cache_dir")."""
    found = []
    if isinstance(value, dict):
        for key, item in value.items():
            found += named_paths(item, "%s.%s" % (where, key), always or key in ALWAYS_PATHS)
    elif isinstance(value, (list, tuple)):
        for item in value:
            found += named_paths(item, where, always)
    elif isinstance(value, str) and (always or is_server_path(value)):
        found.append((where, value))
    return found


def model_path(name, store, where="the model name"):
    """[(where, name)] when a model name is a server path and not a model of the store, else []:
    what check() needs for a transformer/model argument."""
    from . import models_store
    if not isinstance(name, str) or models_store.resolve(name, store) != name or not is_server_path(name):
        return []
    return [(where, name)]


def check(db, paths, hint=None):
    """ERROR 42501 unless the current user may read the server files in `paths` ([(where, path)])."""
    if not paths:
        return
    try:  # USAGE: the role's privileges, as PostgreSQL's own file functions check (superusers have all)
        row = db.execute("SELECT current_user AS role, pg_catalog.pg_has_role(current_user, '%s', 'USAGE') AS ok"
                         % ROLE)[0]
    except errors.FeatureNotSupported:  # a parallel worker cannot query: superuser() needs none
        import pgml_bootstrap
        row = {"role": "your role", "ok": pgml_bootstrap.is_superuser()}
    if row["ok"]:
        return
    where, path = paths[0]
    raise errors.InsufficientPrivilege(
        'permission denied to read server path "%s"' % path,
        detail="%s names a file or directory on the database server; only superusers and roles with the "
               "privileges of %s may do that." % (where[:1].upper() + where[1:], ROLE),
        hint=hint or "Use a model saved in the model store (pgml.model_store) by its name, or ask a "
                     "superuser to GRANT %s TO %s." % (ROLE, row["role"]))
