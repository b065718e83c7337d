# `make run` starts the whole portal, `make test` runs the tests. Both build .venv first.
# Without DATABASE_URL / REDIS_URL they start an embedded PostgreSQL and Redis under .data/.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
# uv itself lives in a small virtualenv of its own, made with nothing but Python and pip.
UV_VENV := .data/uv
UV := $(UV_VENV)/bin/uv
# Written after each successful sync: `make venv` does nothing until uv.lock (or how the venv is
# made, here) changes.
SYNCED := $(VENV)/.synced-uv.lock
# Two test processes: the machines have two cores.
PYTEST_ARGS ?= -n 2

.DEFAULT_GOAL := help

.PHONY: help run test hosts venv bench clean-data

help:
	@echo "make run         start the portal (web, workers, beat, dispatcher, lab fleet, mail sink) on http://127.0.0.1:$${PORT:-8000}/"
	@echo "make test        run the tests; pass pytest arguments in PYTEST_ARGS='-k login -x'"
	@echo "make hosts       the portal on several hosts (network namespaces; root, haproxy, postgresql, redis)"
	@echo "make venv        build .venv from uv.lock"
	@echo "make bench       run every bench/*.py"
	@echo "make clean-data  delete the local database, Redis data, mail and secrets in .data/"

run: venv
	$(PY) -m portal.supervisor run

test: venv
	$(PY) -m portal.supervisor test -- $(PYTEST_ARGS)

# Two web hosts behind HAProxy with TLS, two worker hosts, beat, PostgreSQL and Redis, each in
# a network namespace, started with docker-compose.yml's commands: tests/deploy/. Part of `make test`.
hosts: venv
	$(PY) -m portal.supervisor test -- -p no:xdist tests/deploy -v

venv: $(SYNCED)

$(UV):
	$(PYTHON) -m venv $(UV_VENV)
	$(UV_VENV)/bin/python -m pip install --quiet --disable-pip-version-check uv

# Compiled once here: where PYTHONDONTWRITEBYTECODE is set (containers, CI), every process
# would otherwise compile each module it imports again, seconds of CPU per Django process.
$(SYNCED): uv.lock pyproject.toml Makefile | $(UV)
	$(UV) sync --frozen --compile-bytecode --python $(PYTHON)
	touch $@

bench: venv
	$(PY) -m portal.supervisor exec -- sh -c '\
		status=0; \
		for script in bench/*.py; do \
			[ -e "$$script" ] || continue; \
			name=$$(basename "$$script" .py); \
			[ "$$name" = "__init__" ] && continue; \
			echo "== $$script"; \
			$(PY) -m "bench.$$name" || status=1; \
		done; \
		exit $$status'

# Keeps .data/uv; refuses while `make run` or `make test` still has the database open.
clean-data:
	@if [ -f .data/postgres/postmaster.pid ] && kill -0 "$$(head -n 1 .data/postgres/postmaster.pid)" 2>/dev/null; then \
		echo "The embedded PostgreSQL is running: stop make run (or make test) first."; exit 1; \
	fi
	if [ -d .data ]; then find .data -mindepth 1 -maxdepth 1 ! -name uv -exec rm -rf {} +; fi
