# pgml: PostgreSQL extension (PGXS) plus the Python venv that PL/Python imports from.
#   make install   everything: Debian packages, pgvector, venv, extension files (root)
#   make start     a throwaway local server with the extension created; prints its URL
#   make demo      install + start + demo SQL
#   make test      install + the whole test suite against a real server
EXTENSION   = pgml
DATA_built  = build/pgml--1.0.sql build/pgml_bootstrap.py
EXTRA_CLEAN = build

PG_CONFIG        ?= pg_config
PGML_VENV        ?= /var/lib/pgml/venv
PGML_MODEL_STORE ?= /var/lib/pgml/models
PGML_PORT        ?= 15432
export PG_CONFIG PGML_VENV PGML_MODEL_STORE

# SQL sources, concatenated in this order into the one versioned install script.
SQL_SOURCES = sql/header.sql sql/bootstrap.sql sql/catalog.sql sql/utility.sql \
              sql/cache.sql sql/embed.sql sql/chunk.sql sql/vectors.sql sql/transform.sql \
              sql/rank.sql sql/metrics.sql sql/datasets.sql sql/deploy.sql sql/train.sql sql/predict.sql sql/tune.sql

PGXS := $(shell $(PG_CONFIG) --pgxs 2>/dev/null)

.PHONY: FORCE all system venv demo start stop psql test bench tiny-models

ifeq ($(wildcard $(PGXS)),)
# No server headers yet (fresh machine): install them, then run the real install.
install:
	bash scripts/install-system.sh
	$(MAKE) install
else
include $(PGXS)
# PGXS's install copies the control and SQL files; these run first.
install: system venv
endif

# Install-time paths are written into the SQL and the bootstrap module.
SUBSTITUTE = sed -e 's|@PGML_VENV@|$(PGML_VENV)|g' -e 's|@PGML_MODEL_STORE@|$(PGML_MODEL_STORE)|g' \
                 -e 's|@PGML_EXTENSION_DIR@|$(shell $(PG_CONFIG) --sharedir)/extension|g'

build/pgml--1.0.sql: $(SQL_SOURCES) FORCE
	@mkdir -p build
	cat $(SQL_SOURCES) | $(SUBSTITUTE) > $@

build/pgml_bootstrap.py: bootstrap/pgml_bootstrap.py FORCE
	@mkdir -p build
	$(SUBSTITUTE) $< > $@

system:
	bash scripts/install-system.sh

venv:
	bash scripts/install-venv.sh

start: install
	@bash scripts/pgml-server.sh start

stop:
	@bash scripts/pgml-server.sh stop

psql:
	@bash scripts/pgml-server.sh psql

demo: install
	@bash scripts/pgml-server.sh start >/dev/null
	@bash scripts/pgml-server.sh psql -f demo/demo.sql

test: install
	bash scripts/run-tests.sh

bench: install
	bash scripts/run-bench.sh

# Tiny models (random weights) in the model store, for the README's examples offline.
tiny-models: install
	HF_HUB_OFFLINE=1 $$(bash scripts/test-venv.sh) scripts/tiny-models.py $(PGML_MODEL_STORE)
