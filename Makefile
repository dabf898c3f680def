# The two commands a newcomer needs: `make demo` and `make test`. Both set up .venv themselves.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
DURATION ?= 60
PYTEST_ARGS ?=

.PHONY: demo test test-fast lint kafka bench clean

demo: $(VENV)/.installed
	$(BIN)/edgestream demo --duration $(DURATION)

# Everything: unit tests, and integration tests on Tansu and on Apache Kafka (needs Java;
# the jars come from Maven Central once and are cached in ~/.cache/edgestream).
test: $(VENV)/.installed
	$(BIN)/ruff check .
	$(BIN)/pytest $(PYTEST_ARGS)

# Without Java: unit tests and the Tansu half of the integration tests.
test-fast: $(VENV)/.installed
	$(BIN)/pytest -m "not apache" $(PYTEST_ARGS)

lint: $(VENV)/.installed
	$(BIN)/ruff check .

kafka:
	bash ops/kafka/apache-kafka.sh fetch

# Throughput/latency/RSS against the raw Kafka client on Tansu and Apache Kafka (~15 min;
# BENCH_ARGS=--quick for a short run). Results: bench/results/latest.{json,md,png}.
bench: $(VENV)/.installed
	$(BIN)/python -m pip install -q -e '.[bench]'
	$(BIN)/python -m bench.run $(BENCH_ARGS)

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test]'
	touch $@

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .ruff_cache
