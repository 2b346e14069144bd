"""Every ctypes binding pgml has to PostgreSQL's own functions and variables, and to libc: one
place that knows which server majors it was checked against.

It sits beside pgml_bootstrap (PL/Python's site-packages and the extension directory), because
the bootstrap needs settings before any venv is active; the venv gets a copy too, for
pgml_py.signals and the unit tests.

Two kinds of binding, two levels of trust:
- calls through a declared prototype (GetConfigOption, superuser, DefineCustom*Variable ...):
  their signatures have not changed in the majors below; a missing symbol is a clear error.
- reads of server memory by layout (SnapshotData's leading fields, InterruptPending): done only
  on a major in KNOWN_MAJORS. On any other major they are refused, once per backend with a
  WARNING, and their callers fall back: no snapshot identity (caches are checked by query each
  statement) and no early cancel check (a cancel is seen at pgml's next query instead).

check_headers() compares these expectations with a server's own headers
(`pg_config --includedir-server`); make install runs it (python3 pgml_native.py DIR), and the
tests of each major run it too. Nothing here raises an ERROR through the server: the bindings are
plain C calls that never elog(ERROR) for the arguments pgml passes.
"""
import ctypes
import ctypes.util
import re
import sys

# Majors whose layouts are trusted. 15 (Debian 12), 17 (Debian 13) and 18 (built from Debian's
# source) had their headers compared with EXPECTED and ran the tests; 16 was not available here,
# but every declaration is identical in 15 and 18, and make install compares a 16 server's own
# headers before pgml runs there (and stops if they differ).
KNOWN_MAJORS = (15, 16, 17, 18)

# GucContext (utils/guc.h): who may set a variable.
PGC_SUSET, PGC_USERSET = 5, 6


class Snapshot(ctypes.Structure):
    """The leading fields of SnapshotData (utils/snapshot.h), the same in every KNOWN_MAJORS."""
    _fields_ = [("snapshot_type", ctypes.c_int), ("xmin", ctypes.c_uint32), ("xmax", ctypes.c_uint32),
                ("xip", ctypes.c_void_p), ("xcnt", ctypes.c_uint32), ("subxip", ctypes.c_void_p),
                ("subxcnt", ctypes.c_int32), ("suboverflowed", ctypes.c_bool),
                ("takenDuringRecovery", ctypes.c_bool), ("copied", ctypes.c_bool), ("curcid", ctypes.c_uint32)]


# What the headers of every KNOWN_MAJORS declare, comments and whitespace normalized: the
# declaration (by header) each binding below relies on.
EXPECTED = {
    "utils/snapshot.h": [
        "typedef struct SnapshotData { SnapshotType snapshot_type; TransactionId xmin; TransactionId xmax;"
        " TransactionId *xip; uint32 xcnt; TransactionId *subxip; int32 subxcnt; bool suboverflowed;"
        " bool takenDuringRecovery; bool copied; CommandId curcid;",
        "SNAPSHOT_MVCC = 0,",
    ],
    "miscadmin.h": ["extern PGDLLIMPORT volatile sig_atomic_t InterruptPending;"],
    "utils/guc.h": [
        "PGC_INTERNAL, PGC_POSTMASTER, PGC_SIGHUP, PGC_SU_BACKEND, PGC_BACKEND, PGC_SUSET, PGC_USERSET } GucContext;",
        "typedef bool (*GucStringCheckHook) (char **newval, void **extra, GucSource source);",
        "extern void DefineCustomBoolVariable(const char *name, const char *short_desc, const char *long_desc,"
        " bool *valueAddr, bool bootValue, GucContext context, int flags, GucBoolCheckHook check_hook,"
        " GucBoolAssignHook assign_hook, GucShowHook show_hook);",
        "extern void DefineCustomIntVariable(const char *name, const char *short_desc, const char *long_desc,"
        " int *valueAddr, int bootValue, int minValue, int maxValue, GucContext context, int flags,"
        " GucIntCheckHook check_hook, GucIntAssignHook assign_hook, GucShowHook show_hook);",
        "extern void DefineCustomStringVariable(const char *name, const char *short_desc, const char *long_desc,"
        " char **valueAddr, const char *bootValue, GucContext context, int flags,"
        " GucStringCheckHook check_hook, GucStringAssignHook assign_hook, GucShowHook show_hook);",
        "extern void MarkGUCPrefixReserved(const char *className);",
        "extern const char *GetConfigOption(const char *name, bool missing_ok, bool restrict_privileged);",
        "extern const char *GetConfigOptionResetString(const char *name);",
        "extern PGDLLIMPORT char *GUC_check_errhint_string;",
    ],
    "miscadmin.h#superuser": ["extern bool superuser(void);"],
    "miscadmin.h#GetUserId": ["extern Oid GetUserId(void);"],
    "access/xact.h": ["extern TimestampTz GetCurrentStatementStartTimestamp(void);",
                      "extern bool IsInParallelMode(void);"],
    "utils/snapmgr.h": ["extern Snapshot GetActiveSnapshot(void);", "extern bool ActiveSnapshotSet(void);"],
}
# The symbols called (prototypes above) and read (layouts): all exported by the postgres binary.
CALLED = ("GetConfigOption", "GetConfigOptionResetString", "superuser", "GetUserId", "IsInParallelMode",
          "GetCurrentStatementStartTimestamp", "ActiveSnapshotSet", "GetActiveSnapshot",
          "DefineCustomBoolVariable", "DefineCustomIntVariable", "DefineCustomStringVariable",
          "MarkGUCPrefixReserved", "GUC_check_errhint_string")
READ = ("InterruptPending",)


def _normalized(text):
    """C source without comments and function attributes, one space for any whitespace run,
    none inside parentheses' edges: declarations compare as strings however the header wraps them."""
    text = re.sub(r"/\*.*?\*/", " ", text, flags=re.S)
    text = re.sub(r"//[^\n]*", " ", text)
    text = re.sub(r"\bpg_attribute_\w+\([^)]*\)", " ", text)  # 18: pg_attribute_nonnull(1, 4)
    text = re.sub(r"\s+", " ", text)
    text = re.sub(r",\s*}", " }", text)  # 18: a comma after an enum's last member
    text = re.sub(r"\s+;", ";", text)
    return re.sub(r"\( ", "(", re.sub(r" \)", ")", text))


def check_headers(include_dir):
    """The EXPECTED declarations missing from the server headers under include_dir (empty when
    every binding matches): a non-empty answer on a KNOWN_MAJORS server means this module is wrong."""
    import os
    missing = []
    for key, declarations in EXPECTED.items():
        path = os.path.join(include_dir, key.partition("#")[0])
        try:
            with open(path, errors="replace") as f:
                text = _normalized(f.read())
        except OSError as e:
            missing.append("%s: %s" % (path, e.strerror))
            continue
        for declaration in declarations:
            if _normalized(declaration) not in text:
                missing.append("%s: %s" % (key.partition("#")[0], declaration))
    return missing


def layouts_trusted(major):
    """Whether memory of this server major may be read by the layouts above."""
    return major in KNOWN_MAJORS


def plausible(snap):
    """A SnapshotData read by the Snapshot layout looks like one: an MVCC snapshot (the active
    snapshot of a query always is), the three bool bytes 0 or 1 (read raw: ctypes turns any
    byte into True), xmin not after xmax (modulo 2^32), no more in progress than xmax - xmin."""
    return (snap.snapshot_type == 0 and ((snap.xmax - snap.xmin) & 0xFFFFFFFF) < 2 ** 31
            and snap.xcnt <= (snap.xmax - snap.xmin) & 0xFFFFFFFF
            and all(b in (0, 1) for b in ctypes.string_at(ctypes.addressof(snap) + Snapshot.suboverflowed.offset, 3)))


class Server:
    """The postgres executable's exported functions, bound at first use (a plain Python process,
    e.g. a unit test, has none of them)."""

    def __init__(self):
        lib = ctypes.CDLL(None)
        absent = [name for name in CALLED if not hasattr(lib, name)]
        if absent:
            raise RuntimeError("this process is not a PostgreSQL backend, or the server lacks %s"
                               % ", ".join(absent))
        lib.GetConfigOption.restype = ctypes.c_char_p
        lib.GetConfigOption.argtypes = [ctypes.c_char_p, ctypes.c_bool, ctypes.c_bool]
        lib.GetConfigOptionResetString.restype = ctypes.c_char_p
        lib.GetConfigOptionResetString.argtypes = [ctypes.c_char_p]
        lib.superuser.restype = ctypes.c_bool
        lib.GetUserId.restype = ctypes.c_uint32
        lib.IsInParallelMode.restype = ctypes.c_bool
        lib.GetCurrentStatementStartTimestamp.restype = ctypes.c_int64
        lib.ActiveSnapshotSet.restype = ctypes.c_bool
        lib.GetActiveSnapshot.restype = ctypes.c_void_p
        hook = ctypes.c_void_p  # check/assign/show hooks
        lib.DefineCustomBoolVariable.argtypes = [
            ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.POINTER(ctypes.c_bool), ctypes.c_bool,
            ctypes.c_int, ctypes.c_int, hook, hook, hook]
        lib.DefineCustomIntVariable.argtypes = [
            ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.POINTER(ctypes.c_int), ctypes.c_int,
            ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_int, hook, hook, hook]
        lib.DefineCustomStringVariable.argtypes = [
            ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.POINTER(ctypes.c_char_p), ctypes.c_char_p,
            ctypes.c_int, ctypes.c_int, hook, hook, hook]
        lib.MarkGUCPrefixReserved.argtypes = [ctypes.c_char_p]
        self.lib = lib
        self.defined, self.hint = {}, None
        self.major = int(lib.GetConfigOption(b"server_version_num", True, False) or 0) // 10000
        self.trusted = layouts_trusted(self.major)
        # miscadmin.h: set by the SIGINT/SIGTERM handlers (cancel, statement_timeout, terminate).
        self._interrupt = ctypes.c_int.in_dll(lib, "InterruptPending") \
            if self.trusted and hasattr(lib, "InterruptPending") else None
        self.refused = None if self.trusted else (
            "pgml was not checked against PostgreSQL %d (it knows %s): it reads no server memory by "
            "layout here, so a cancel is seen at pgml's next query and cached metadata is checked "
            "by query on every statement" % (self.major, ", ".join(map(str, KNOWN_MAJORS))))

    def interrupt_pending(self):
        return bool(self._interrupt is not None and self._interrupt.value)

    def current_user_id(self):
        """current_user's oid (miscadmin.h GetUserId: a plain function, no layout read)."""
        return int(self.lib.GetUserId())

    def snapshot_identity(self):
        """The active snapshot's (xmin, xmax, xcnt, subxcnt, suboverflowed, curcid), or None
        (no active snapshot; a major whose layout is not known; a snapshot that does not look
        like one, after which layout reads stop for this backend)."""
        if not self.trusted or not self.lib.ActiveSnapshotSet():
            return None
        snap = Snapshot.from_address(self.lib.GetActiveSnapshot())
        if not plausible(snap):
            self.trusted, self._interrupt = False, None
            self.refused = "the active snapshot did not match SnapshotData's layout for PostgreSQL %d" % self.major
            return None
        return (snap.xmin, snap.xmax, snap.xcnt, snap.subxcnt, snap.suboverflowed, snap.curcid)

    def define_setting(self, name, kind, default, description, context, check=None):
        """DefineCustom{Bool,Int,String}Variable; the storage, texts and hook the server keeps
        pointers to stay alive in self.defined. check (strings): value -> None or a hint."""
        texts = [name.encode(), description.encode()]
        if kind == "bool":
            storage = ctypes.c_bool(bool(default))
            self.lib.DefineCustomBoolVariable(texts[0], texts[1], None, ctypes.byref(storage), bool(default),
                                              context, 0, None, None, None)
        elif kind == "int":
            storage = ctypes.c_int(int(default))
            # an int setting whose default is 0 takes 0 (pgml.omp_num_threads: 0 = automatic)
            self.lib.DefineCustomIntVariable(texts[0], texts[1], None, ctypes.byref(storage), int(default),
                                             min(1, int(default)), 2 ** 31 - 1, context, 0, None, None, None)
        else:
            storage = ctypes.c_char_p(None)
            texts.append(str(default or "").encode())
            hook = self._string_check_hook(check) if check is not None else None
            texts.append(hook)  # kept alive: the server calls it
            self.lib.DefineCustomStringVariable(texts[0], texts[1], None, ctypes.byref(storage), texts[2],
                                                context, 0, ctypes.cast(hook, ctypes.c_void_p) if hook else None,
                                                None, None)
        self.defined[name] = (storage, texts)

    def _string_check_hook(self, check):
        """A C check hook around check(value) -> None (accept) or a hint (refuse: PostgreSQL's
        own ERROR 22023 'invalid value for parameter'). It never raises into the server: a
        failing check accepts the value, and use-time checks still apply."""
        def hook(newval, extra, source):
            try:
                raw = newval[0]
                hint = check("" if raw is None else raw.decode())
                if hint is None:
                    return True
                self.hint = ctypes.create_string_buffer(str(hint).encode())  # the server points at it
                ctypes.c_void_p.in_dll(self.lib, "GUC_check_errhint_string").value = ctypes.addressof(self.hint)
                return False
            except Exception:
                return True
        return STRING_CHECK_HOOK(hook)


# A string setting's check hook (utils/guc.h GucStringCheckHook).
STRING_CHECK_HOOK = ctypes.CFUNCTYPE(ctypes.c_bool, ctypes.POINTER(ctypes.c_char_p),
                                     ctypes.POINTER(ctypes.c_void_p), ctypes.c_int)

_server = {}


def server():
    """The Server bindings of this backend, made once."""
    if "bound" not in _server:
        _server["bound"] = Server()
    return _server["bound"]


# libc (glibc on Linux): sigaction(2), for pgml_py.signals.
class SigAction(ctypes.Structure):
    """glibc's struct sigaction on Linux: handler, a 1024-bit mask, flags, restorer."""
    _fields_ = [("handler", ctypes.c_void_p),
                ("mask", ctypes.c_ulong * (1024 // (8 * ctypes.sizeof(ctypes.c_ulong)))),
                ("flags", ctypes.c_int),
                ("restorer", ctypes.c_void_p)]


_libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
_libc.sigaction.argtypes = [ctypes.c_int, ctypes.POINTER(SigAction), ctypes.POINTER(SigAction)]
_libc.sigaction.restype = ctypes.c_int


def sigaction_get(signum):
    """The C-level action for signum, or None when the kernel refuses to tell."""
    action = SigAction()
    return action if _libc.sigaction(signum, None, ctypes.byref(action)) == 0 else None


def sigaction_set(signum, action):
    _libc.sigaction(signum, ctypes.byref(action), None)


def main(argv):
    """python3 pgml_native.py INCLUDEDIR_SERVER MAJOR: 0 when the headers match (or, on a major
    not in KNOWN_MAJORS, after saying which layout reads will be off); 1 on a known major whose
    headers differ (this module must be fixed before pgml runs there)."""
    include_dir, major = argv[1], int(argv[2])
    missing = check_headers(include_dir)
    if not missing:
        print("pgml_native: PostgreSQL %d headers match every binding" % major)
        return 0
    print("pgml_native: PostgreSQL %d headers differ from what pgml expects:\n  %s"
          % (major, "\n  ".join(missing)), file=sys.stderr)
    if layouts_trusted(major):
        return 1
    print("pgml_native: %d is not a major pgml knows: layout reads stay off there" % major, file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
