# The two commands a fresh clone needs:  `make demo`  and  `make test`.
PYTHON ?= python3.11
VENV   := .venv
PY     := $(VENV)/bin/python
CHECKOV_VENV := .venv-checkov
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION ?= 20
export JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION ?= 1
export CHECKPOINT_DISABLE ?= 1
export PYTHONDONTWRITEBYTECODE ?= 1

.PHONY: demo test synth check bench lock clean docs

# Installs (only what changed) and runs the main job: synth every environment, then walk a model
# dev -> staging -> prod on the local registry.
demo: $(VENV)/.installed
	$(PY) main.py demo

test: $(VENV)/.installed $(CHECKOV_VENV)/.installed
	LAKEGATE_CHECKOV=$(CURDIR)/$(CHECKOV_VENV)/bin/checkov $(PY) -m pytest $(PYTEST_ARGS)

synth: $(VENV)/.installed
	$(PY) main.py synth

check: $(VENV)/.installed
	$(PY) main.py check

bench: $(VENV)/.installed
	$(PY) benchmarks/synth.py
	$(PY) benchmarks/promotion.py

docs: $(VENV)/.installed
	$(PY) main.py docs --write

$(VENV)/.installed: requirements.lock pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.lock
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
	rm -rf $(VENV) $(CHECKOV_VENV) cdktf.out .lakegate
