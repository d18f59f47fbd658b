# The two commands a newcomer needs: `make run` and `make test`.
PYTHON ?= python3
STACK := $(PYTHON) deploy/stack.py
VENV := .venv/bin
ARGS ?=
# A second checkout can run its suite beside the first: TEST_PROFILE=test-a (or -b ... -f).
TEST_PROFILE ?= test

.PHONY: run stop test test-fast lint pytest bench ctl compose-check

## run: install what is missing, start the dev stack, serve on :8000; Ctrl-C stops it
run:
	@$(STACK) up --profile dev --foreground

## stop: stop every process of the dev stack (its data stays in var/dev)
stop:
	@$(STACK) down --profile dev

## test: lint, then a fresh test stack on its own ports, the whole suite, and stop it
test:
	@$(STACK) up --profile $(TEST_PROFILE) --fresh
	@status=0; $(MAKE) --no-print-directory lint compose-check pytest || status=$$?; \
		$(STACK) down --profile $(TEST_PROFILE) > /dev/null; exit $$status

## pytest: run the suite (or ARGS=...) against the already running test stack
pytest:
	@set -a && . var/$(TEST_PROFILE)/env && set +a && $(VENV)/python -m pytest $(ARGS); \
		status=$$?; if [ $$status -eq 5 ]; then echo "pytest collected no tests: failing"; exit 1; fi; exit $$status

## test-fast: the pure-logic tests (marked `fast`: transitions, ID codec, parameters, codecs, imports), no stack
# The files are found by their marker, so collection reads only them: seconds, not the suite's minutes.
test-fast:
	@$(VENV)/python -m pytest -m fast -q $$(grep -rl --include='test_*.py' 'pytest.mark.fast' tests)

lint:
	$(VENV)/ruff check .
	$(VENV)/ruff format --check .
	$(VENV)/mypy

compose-check:
	docker-compose -f docker-compose.yml config -q

## bench: benchmarks against a running stack (dev, or BENCH_PROFILE=test-a ...; started if needed),
## then one table of issue 16's figures and targets, var/bench/summary.json and the req/s plot
BENCH_PROFILE ?= dev
bench:
	@$(STACK) up --profile $(BENCH_PROFILE)
	@set -a && . var/$(BENCH_PROFILE)/env && set +a && $(VENV)/python bench/run.py $(ARGS) && $(VENV)/python bench/sharding.py && $(VENV)/python bench/photos.py && $(VENV)/python bench/photomap.py && $(VENV)/python bench/feeds.py && $(VENV)/python bench/roundtrips.py && $(VENV)/python bench/summary.py

## ctl: supervisorctl for a stack, e.g. make ctl ARGS=status [PROFILE=test]
PROFILE ?= dev
ctl:
	@$(STACK) ctl --profile $(PROFILE) $(ARGS)
