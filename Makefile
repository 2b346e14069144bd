# pgml: PostgreSQL extension (PGXS) plus the Python venv that PL/Python imports from.
#   make install   everything: Debian packages, pgvector, venv, extension files (root)
#   make start     a throwaway local server with the extension created; prints its URL
#   make demo      install + start + demo SQL
#   make test      install + the whole test suite against a real server
#   make test-debian13  make demo + make test in a debootstrapped Debian 13 root (PostgreSQL 17);
#                       TESTS='tests/...' runs only those (test-debian12: Debian 12, PostgreSQL 15)
#   make test-pg MAJOR=18  the other-majors subset on a PostgreSQL built from Debian's source
#   make sql       rebuild pgml--<version>.sql and the upgrade script from sql/ (sql/README.md)
EXTENSION   = pgml
# The install and upgrade scripts are committed at the top level; released ones never change.
DATA        = $(sort $(wildcard pgml--*.sql)) bootstrap/pgml_native.py
DATA_built  = build/pgml_bootstrap.py
EXTRA_CLEAN = build
# make installcheck: pg_regress runs tests/sql/*.sql against the `make start` server on PGML_PORT
# in a fresh database pgml_regress (PGXS would name it contrib_regression) and diffs the output
# with tests/expected/*.out; results and regression.diffs go to build/regress.
REGRESS      = $(patsubst tests/sql/%.sql,%,$(sort $(wildcard tests/sql/*.sql)))
REGRESS_OPTS = --inputdir=tests --outputdir=build/regress --host=127.0.0.1 --port=$(PGML_PORT) --user=postgres \
               --load-extension=plpython3u --load-extension=vector --load-extension=pgml
override CONTRIB_TESTDB = pgml_regress

PG_CONFIG        ?= pg_config
PGML_VENV        ?= /var/lib/pgml/venv
PGML_MODEL_STORE ?= /var/lib/pgml/models
# Optional Python packages for the venv, by name: requirements-extra-<name>.txt (bitsandbytes).
PGML_EXTRAS      ?=
PGML_PORT        ?= 15432
export PG_CONFIG PGML_VENV PGML_MODEL_STORE

# PL/Python's own site-packages (Debian's /usr/bin/python3): 1.1's shims import pgml_bootstrap
# from there, so the SQL scripts hold no install-time path.
# Evaluated when used, after `system` has installed Debian's python3 on a bare machine.
PLPYTHON_SITE = $(shell /usr/bin/python3 -c 'import site; print(site.getsitepackages()[0])')

PGXS := $(shell $(PG_CONFIG) --pgxs 2>/dev/null)
PG_MAJOR = $(shell $(PG_CONFIG) --version | sed -E 's/[^0-9]*([0-9]+).*/\1/')

.PHONY: FORCE all system venv sql install-bootstrap install-conf demo start stop psql test bench tiny-models \
        test-debian12 test-debian13 test-pg

ifeq ($(wildcard $(PGXS)),)
# No server headers yet (fresh machine): install them, then run the real install.
install:
	bash scripts/install-system.sh
	$(MAKE) install
else
include $(PGXS)
# PGXS's install copies the control and SQL files; these run first.
install: system venv install-bootstrap install-conf
endif

# Install-time paths are written into the bootstrap module only.
SUBSTITUTE = sed -e 's|@PGML_VENV@|$(PGML_VENV)|g' -e 's|@PGML_MODEL_STORE@|$(PGML_MODEL_STORE)|g'

sql:
	/usr/bin/python3 scripts/build-sql.py

build/pgml_bootstrap.py: bootstrap/pgml_bootstrap.py FORCE
	@mkdir -p build
	$(SUBSTITUTE) $< > $@

# Beside the scripts (1.0's shims append the extension directory to sys.path) and in PL/Python's
# site-packages (1.1's shims just import it).
install-bootstrap: build/pgml_bootstrap.py
	@test -n "$(PLPYTHON_SITE)" || { echo "install-bootstrap: /usr/bin/python3 (PL/Python's interpreter) is missing" >&2; exit 1; }
	/usr/bin/python3 bootstrap/pgml_native.py $(shell $(PG_CONFIG) --includedir-server) $(PG_MAJOR)
	install -m 644 build/pgml_bootstrap.py bootstrap/pgml_native.py $(PLPYTHON_SITE)/
	/usr/bin/python3 -m py_compile $(PLPYTHON_SITE)/pgml_bootstrap.py $(PLPYTHON_SITE)/pgml_native.py

# pgml.conf: every pgml.* setting at its default, for include_if_exists in postgresql.conf, so
# SHOW pgml.device works before any pgml call (README "Settings"; make start includes it).
PGML_CONF = $(shell $(PG_CONFIG) --sharedir)/pgml.conf
install-conf: build/pgml.conf
	install -m 644 build/pgml.conf $(PGML_CONF)

build/pgml.conf: scripts/pgml-conf.py pgml_py/settings.py FORCE
	@mkdir -p build
	/usr/bin/python3 scripts/pgml-conf.py $(PGML_MODEL_STORE) > $@

system:
	bash scripts/install-system.sh

venv:
	PGML_EXTRAS="$(PGML_EXTRAS)" bash scripts/install-venv.sh

start: install
	@bash scripts/pgml-server.sh start

stop:
	@bash scripts/pgml-server.sh stop

# make psql ARGS='-c "SELECT pgml.version()"': extra psql arguments
psql:
	@bash scripts/pgml-server.sh psql $(ARGS)

demo: install
	@bash scripts/pgml-server.sh start >/dev/null
	@bash scripts/pgml-server.sh psql -f demo/demo.sql

test: install
	bash scripts/run-tests.sh

# Debian 13 (PostgreSQL 17, Python 3.13) or 12 (15, 3.11) from the README's commands, in a root
# cached in /var/cache/pgml/<release>-root (built once per machine; scripts/test-debian-root.sh).
TESTS ?=
test-debian13:
	bash scripts/test-debian-root.sh trixie all $(TESTS)

test-debian12:
	bash scripts/test-debian-root.sh bookworm all $(TESTS)

# Another major on this machine (scripts/test-pg.sh): built from Debian's source once per machine,
# pgml installed on it, then the tests marked `majors` against it.
MAJOR ?= 18
test-pg:
	bash scripts/test-pg.sh $(MAJOR)

bench: install
	bash scripts/run-bench.sh

# Tiny models (random weights) in the model store, for the README's examples offline.
tiny-models: install
	HF_HUB_OFFLINE=1 $$(bash scripts/test-venv.sh) scripts/tiny-models.py $(PGML_MODEL_STORE)
include docker/image.mk
include sdk/python/sdk.mk
