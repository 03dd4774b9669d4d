VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
STAMP := $(VENV)/.installed

.PHONY: up test check bench protos clean

$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	# The CPU build of torch for the monitor adapters' tests (a wheel this machine keeps
	# on disk); a GPU host installs its own build through the `torch` extra.
	$(PIP) install -q torch==2.13.0
	$(PIP) install -q -e '.[server,test,torch]'
	touch $(STAMP)

up: $(STAMP)
	$(VENV)/bin/sentinel serve

test: $(STAMP)
	$(VENV)/bin/pytest -q

check: $(STAMP)
	$(VENV)/bin/ruff check src tests bench
	$(VENV)/bin/ruff format --check src tests bench
	$(VENV)/bin/mypy

bench: $(STAMP)
	for f in bench/bench_*.py; do $(PY) $$f || exit 1; done

protos: $(STAMP)
	PATH=$(VENV)/bin:$$PATH scripts/gen_protos.sh

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
