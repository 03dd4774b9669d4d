VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
SERVER_STAMP := $(VENV)/.installed-server
TEST_STAMP := $(VENV)/.installed-test
CHROMIUM ?= /usr/bin/chromium
PROMETHEUS ?= /usr/bin/prometheus

.PHONY: up test check bench screenshots protos clean chromium prometheus

# What `sentinel up` needs, and nothing more, so the first start is quick.
$(SERVER_STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q -e '.[server]'
	touch $@

$(TEST_STAMP): $(SERVER_STAMP)
	# The CPU build of torch for the monitor adapters' tests (a wheel this machine keeps
	# on disk); a GPU host installs its own build through the `torch` extra.
	$(PIP) install -q torch==2.13.0
	$(PIP) install -q -e '.[server,test,torch]'
	touch $@

# The dashboard tests drive Debian's Chromium (Playwright never downloads a browser here).
chromium:
	@test -x $(CHROMIUM) || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get install -y -q chromium >/dev/null \
	    || { apt-get update -q >/dev/null && apt-get install -y -q chromium >/dev/null; }; \
	  else echo "Chromium is missing: run 'sudo apt-get install -y chromium'"; exit 1; fi; }

# The forecast tests start Debian's Prometheus (never its system service) on free ports.
prometheus:
	@test -x $(PROMETHEUS) || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get install -y -q prometheus >/dev/null \
	    || { apt-get update -q >/dev/null && apt-get install -y -q prometheus >/dev/null; }; \
	  else echo "Prometheus is missing: run 'sudo apt-get install -y prometheus'"; exit 1; fi; }

up: $(SERVER_STAMP)
	@$(MAKE) -s prometheus || echo "Without Prometheus the forecast demo shows its problem instead."
	$(VENV)/bin/sentinel up

test: $(TEST_STAMP) chromium prometheus
	$(VENV)/bin/pytest -q
	scripts/client_tests.sh

check: $(TEST_STAMP)
	$(VENV)/bin/ruff check src tests bench scripts
	$(VENV)/bin/ruff format --check src tests bench scripts
	$(VENV)/bin/mypy

bench: $(TEST_STAMP)
	for f in bench/bench_*.py; do $(PY) $$f || exit 1; done

# Pictures of every dashboard page, from a live demo fleet, for the README.
screenshots: $(TEST_STAMP) chromium
	$(PY) scripts/screenshots.py docs/screenshots

protos: $(TEST_STAMP)
	PATH=$(VENV)/bin:$$PATH scripts/gen_protos.sh

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
