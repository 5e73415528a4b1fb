# The two commands a fresh clone needs:  `make demo`  and  `make test`.
PYTHON ?= python3.11
VENV   := .venv
PY     := $(VENV)/bin/python
CHECKOV_VENV := .venv-checkov
PYTHON313 ?= python3.13
PY313_VENV := .venv-313
# The cdktf/cdktn CLI and a supported Node for it and for jsii (the machine's may be end-of-life), from the npm
# registry into .tools/ (ignored): .tools/bin/cdktf synth|list|diff|deploy.
TOOLS := .tools
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION ?= 20
export JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION ?= 1
export CHECKPOINT_DISABLE ?= 1
export PYTHONDONTWRITEBYTECODE ?= 1

.PHONY: demo test synth check bench lock clean docs validate tools browser cdktf

# The three virtualenvs, the tools and the browser install side by side (each waits on the network or the disk
# as much as on a core); a target's own recipe still runs after everything it needs. Only for one goal at a time:
# `make clean demo` must clean before it installs.
ifeq ($(filter-out 0 1,$(words $(MAKECMDGOALS))),)
MAKEFLAGS += --jobs=3
endif

# Installs (only what changed) and runs the main job: synth every environment, then walk a model
# dev -> staging -> prod on the local registry.
demo: $(VENV)/.installed $(TOOLS)/.installed
	$(PY) main.py demo

# Four workers on two cores: much of a test's time is spent waiting (child processes starting, the MLflow
# server answering), and each test file stays on one worker (its module fixtures start one server). Six were
# slower (8:30 against 7:28: more contention than overlap).
TEST_WORKERS ?= 4
test: $(VENV)/.installed $(CHECKOV_VENV)/.installed $(PY313_VENV)/.installed $(TOOLS)/.installed browser
	LAKEGATE_CHECKOV=$(CURDIR)/$(CHECKOV_VENV)/bin/checkov LAKEGATE_TOOLS=$(CURDIR)/$(TOOLS) \
	  LAKEGATE_PY313=$(CURDIR)/$(PY313_VENV)/bin/python $(PY) -m pytest -n $(TEST_WORKERS) --dist loadfile --durations=15 $(PYTEST_ARGS)

tools: $(TOOLS)/.installed

# The report's browser test drives the machine's Chromium/Chrome (Playwright never downloads a browser here);
# on Debian without one, install Debian's chromium (sudo when not root: CI runners are not).
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)
browser:
	@command -v chromium >/dev/null || command -v chromium-browser >/dev/null || command -v google-chrome >/dev/null || \
	  { $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq chromium >/dev/null; }

# terraform validate needs the providers: with a provider mirror (TF_CLI_CONFIG_FILE pointing at a
# filesystem_mirror), validate every synthesized stack. Offline without one, the tests run `terraform init
# -backend=false`, which parses every stack up to the provider installation.
validate: synth
	@test -n "$$TF_CLI_CONFIG_FILE" || { echo "validate needs TF_CLI_CONFIG_FILE with a provider mirror"; exit 2; }
	@for stack in cdktf.out/stacks/*/; do \
	  echo "== $$stack"; terraform -chdir=$$stack init -backend=false -input=false >/dev/null && terraform -chdir=$$stack validate || exit 1; \
	done

synth: $(VENV)/.installed
	$(PY) main.py synth

check: $(VENV)/.installed
	$(PY) main.py check

bench: $(VENV)/.installed
	$(PY) benchmarks/synth.py
	$(PY) benchmarks/promotion.py
	$(PY) benchmarks/pipelines.py
	$(PY) benchmarks/report.py
	$(PY) benchmarks/models.py --runs 1
	$(PY) benchmarks/cli.py
	$(PY) benchmarks/spark_engine.py

docs: $(VENV)/.installed
	$(PY) main.py docs

$(VENV)/.installed: requirements.lock pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.lock
	# The project itself, editable and without dependencies: its entry points register the MLflow plugins
	# (promotion/local/uc_uri.py: models:/prod.ml.churn@champion against the local registry).
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps -e .
	touch $@

# `lakegate tools` (cli/project_commands.py): what a pip-only user runs too.
$(TOOLS)/.installed: $(VENV)/.installed
	$(PY) main.py tools

# Python 3.13 (pyenv's, or the machine's python3.13): the dependencies of a wheel walk on 3.13
# (tests/test_package_py313.py); the suite itself runs on 3.11.
$(PY313_VENV)/.installed: requirements.lock
	test -x $(PY313_VENV)/bin/python || PYENV_VERSION=$${PYENV_VERSION:-3.13.0} $(PYTHON313) -m venv $(PY313_VENV)
	$(PY313_VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements.lock
	touch $@

$(CHECKOV_VENV)/.installed: pyproject.toml
	test -x $(CHECKOV_VENV)/bin/python || $(PYTHON) -m venv $(CHECKOV_VENV) || python3 -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/pip install --quiet --disable-pip-version-check "checkov==3.3.30"
	touch $@

lock:
	rm -rf /tmp/lakegate-lock && python3 -m venv /tmp/lakegate-lock
	/tmp/lakegate-lock/bin/pip install --quiet . && /tmp/lakegate-lock/bin/pip freeze | grep -v '^lakegate' > requirements.lock.new
	mv requirements.lock.new requirements.lock

clean:
	rm -rf $(VENV) $(CHECKOV_VENV) $(PY313_VENV) $(TOOLS) cdktf.out .lakegate

# The cdktf CLI from .tools/, without its false [ERROR] lines (no update check, a project Terraform CLI config):
# `make cdktf ARGS="list"`, the same as `.venv/bin/python main.py cdktf list` (docs/output.md).
cdktf: $(VENV)/.installed $(TOOLS)/.installed
	$(PY) main.py cdktf $(ARGS)
