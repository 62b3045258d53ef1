# The two commands of the quick start: `make demo` and `make test`.
# Both install what is missing first (Debian packages as root, then a .venv).
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
APT_PACKAGES := sip-tester mosquitto espeak-ng sox
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: deps system-deps venv demo test lint typecheck contracts unit bench bench-compare clean serve

deps: system-deps venv

system-deps:
	@missing=""; \
	for tool in sipp:sip-tester mosquitto:mosquitto espeak-ng:espeak-ng sox:sox; do \
	  command -v $${tool%%:*} >/dev/null 2>&1 || [ -x /usr/sbin/$${tool%%:*} ] || missing="$$missing $${tool##*:}"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing; \
	fi

venv: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	python3.11 -m venv $(VENV) 2>/dev/null || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test,tools]'
	touch $@

demo: deps
	$(VENV)/bin/voice-engine demo

serve: deps
	$(VENV)/bin/voice-engine serve

lint: venv
	$(VENV)/bin/ruff check engine tests bench
	$(VENV)/bin/ruff format --check engine tests bench

typecheck: venv
	$(VENV)/bin/mypy engine

contracts: venv
	$(VENV)/bin/lint-imports

unit: venv
	$(VENV)/bin/pytest -q -m "not sip and not mqtt"

test: deps lint typecheck contracts
	$(VENV)/bin/voice-engine flows validate flows
	$(VENV)/bin/pytest -q

bench: deps
	$(PY) bench/api_to_invite.py

# The controller's CPU a call, BASE (default: the controller-cpu baseline's revision) against the
# working tree, in alternating rounds; ARGS passes more, e.g. ARGS="--rounds 5 --save".
bench-compare: deps
	$(PY) bench/compare.py $(if $(BASE),--base $(BASE)) $(ARGS)

clean:
	rm -rf $(VENV) var .mypy_cache .ruff_cache .pytest_cache
