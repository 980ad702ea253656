# K-ConcertBook: `make run` serves the API on the embedded runtime, `make test` checks everything.
PYTHON ?= python3
VENV := .venv
UV_VERSION := 0.13.8
HOST ?= 127.0.0.1
PORT ?= 8000
DATA ?= ./data
DEMO ?=
PYTEST_ARGS ?=
ARGS ?=

.PHONY: run test test-fast provision lint typecheck pytest format clean opensearch bench-search rehearse check sbom emulator-apply

$(VENV)/.synced: pyproject.toml uv.lock
	@test -x $(VENV)/bin/uv || { $(PYTHON) -m venv $(VENV) && $(VENV)/bin/pip install -q uv==$(UV_VERSION); }
	$(VENV)/bin/uv sync --frozen --all-extras --quiet
	@touch $@

run: $(VENV)/.synced  ## serve API + workers on 127.0.0.1:8000 with ./data (DEMO=1 loads a concert)
	$(VENV)/bin/concertbook serve --host $(HOST) --port $(PORT) --data $(DATA) $(if $(DEMO),--demo)

test: provision lint typecheck pytest  ## install what the tests start, then ruff, mypy and the whole pytest suite

test-fast: $(VENV)/.synced  ## the unit and contract tiers only (tests/unit, tests/contract): seconds, no provisioning
	$(VENV)/bin/pytest tests/unit tests/contract $(PYTEST_ARGS)

provision:  ## install and build Redis, HAProxy, wrk, vegeta, the Lambda emulator, OpenSearch, checkov (cached in .cache/)
	tools/provision.sh $(if $(CONCERTBOOK_REQUIRE_SERVICES),--strict)

lint: $(VENV)/.synced
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports  # the layers and families of docs/ARCHITECTURE.md, no import circles

typecheck: $(VENV)/.synced
	$(VENV)/bin/mypy

pytest: $(VENV)/.synced
	$(VENV)/bin/pytest $(PYTEST_ARGS)

format: $(VENV)/.synced
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

bench-search: $(VENV)/.synced  ## indexer throughput, freshness and query latency: FTS5 vs OpenSearch
	tools/build-opensearch.sh
	$(VENV)/bin/python -m benchmarks.search --start-opensearch

rehearse: $(VENV)/.synced  ## flood a local stage like an onsale, audit it (ARGS="--seats 15000 --fans 60000")
	-tools/build-vegeta.sh
	$(VENV)/bin/concertbook rehearse $(ARGS)

check: $(VENV)/.synced  ## run a workload with faults and check its history (ARGS="--runtime aws --faults all")
	$(VENV)/bin/concertbook check $(ARGS)

emulator-apply: $(VENV)/.synced  ## terraform apply of envs/dev on moto's server, then a booking through it (ARGS="--keep DIR")
	tools/emulator-apply.sh $(ARGS)

sbom: $(VENV)/.synced  ## what each image installs: reports/sbom/<image>.cdx.json and <image>-licences.md
	tools/sbom.sh $(ARGS)

opensearch:  ## build, then serve OpenSearch 2.19 with Korean analysis on 127.0.0.1:9200
	tools/build-opensearch.sh
	java -Xms512m -Xmx512m -XX:SharedArchiveFile=$(CURDIR)/.cache/opensearch/classes.jsa \
	  -Dfile.encoding=UTF-8 -Djava.locale.providers=SPI,COMPAT \
	  -cp '$(CURDIR)/.cache/opensearch/concertbook-opensearch.jar:$(CURDIR)/.cache/opensearch/lib/*' \
	  dev.concertbook.opensearch.EmbeddedOpenSearch --http-port 9200 --home .cache/opensearch/home

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
