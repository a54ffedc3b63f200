# The README's commands. Everything installs into .venv; nothing outside the checkout is touched.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PYTEST_ARGS ?=

.PHONY: demo test test-floor bench bench-smoke completions lint clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(VENV)/.installed $@

demo: $(VENV)/.installed
	@$(BIN)/python -m balcli.sandbox.demo

# The linters first (pinned in the test extras; mypy keeps its cache in .venv), then the suite.
test: lint
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# The lowest versions pyproject.toml allows (tests/test_packaging.py keeps the two in step), in their own venv,
# against a smoke subset: the CLI, usage errors, completions, the start-up import budget and a broker run
# (with the Ctrl-C path). click is typer 0.24's own floor. The two `kraken` cases are left out: before typer 0.27
# click names a bad choice argument by its metavar ('EXCHANGE:{zoomex|...}'), not as 'exchange'.
FLOOR       := .venv-floor
FLOOR_PINS  := typer==0.24.0 click==8.2.1 requests==2.31.0 rich==13.7.0 keyring==24.0.0 pyyaml==6.0
FLOOR_TESTS := tests/test_cli.py tests/test_usage_errors.py tests/test_completions.py tests/test_performance.py \
	tests/test_integration_broker.py::test_every_customer_exactly_once_in_json \
	tests/test_integration_broker.py::test_wrong_credentials_exit_4 \
	tests/test_integration_broker.py::test_ctrl_c_mid_pagination_exits_130_on_a_whole_line

$(FLOOR)/.installed: pyproject.toml Makefile
	rm -rf $(FLOOR)
	$(PYTHON) -m venv $(FLOOR)
	$(FLOOR)/bin/python -m pip install --quiet -e . pytest responses hypothesis $(FLOOR_PINS)
	touch $@

test-floor: $(FLOOR)/.installed
	$(FLOOR)/bin/python -m pytest -q -p no:cacheprovider -k "not kraken" $(FLOOR_TESTS)

bench: $(VENV)/.installed-test
	$(BIN)/python benchmarks/run.py

bench-smoke: $(VENV)/.installed-test
	$(BIN)/python benchmarks/run.py --smoke

completions: $(VENV)/.installed
	$(BIN)/python -m balcli.completion_scripts completions

lint: $(VENV)/.installed-test
	$(BIN)/ruff check balcli tests benchmarks
	$(BIN)/mypy balcli

clean:
	rm -rf $(VENV) $(FLOOR) build *.egg-info .pytest_cache .hypothesis .mypy_cache .ruff_cache
