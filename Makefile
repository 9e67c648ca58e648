# Two commands do everything on a fresh clone: `make demo` and `make test`.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
PYTEST_ARGS ?=

.PHONY: setup system-deps demo test test-fast lint bench bench-quick accuracy reliability train dev clean image stack-test

$(VENV)/.installed: pyproject.toml setup.py
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -e '.[dev]'
	touch $@

setup: $(VENV)/.installed

# Debian packages the tests use (PostgreSQL, Chromium, tesseract with Korean); installs only what is missing.
system-deps:
	bash scripts/system-deps.sh

demo: setup
	$(PY) -m upstage_assets.demo $(if $(BACKEND),--backend $(BACKEND),)

# The container tests (image build, compose stack, kube play) take 15-30 min here: `make stack-test` runs them.
# Two passes (scripts/run-tests.sh): the suite on TEST_WORKERS pytest-xdist workers, then the `serial` tests alone.
TEST_WORKERS ?= 3
test: setup system-deps
	TEST_WORKERS=$(TEST_WORKERS) bash scripts/run-tests.sh $(PYTEST_ARGS)

test-fast: setup
	$(VENV)/bin/pytest -q -m "not slow" $(PYTEST_ARGS)

# The CPU image with docker, or podman without a Docker daemon (offline: Debian-package base, local torch wheel).
# Needs docker or podman (+ debootstrap when no registry answers): `make system-deps` installs podman as root.
image:
	bash scripts/build-image.sh

# The image smoke test, the compose stack (podman-compose) and the k8s pods (podman kube play).
# Kept out of `make test` for time; .ci/run runs it after `make test`. Needs podman or docker.
stack-test: setup system-deps
	$(VENV)/bin/pytest -q upstage_assets_tests/deploy/containers $(PYTEST_ARGS)

lint: setup
	$(VENV)/bin/ruff check upstage_assets upstage_assets_tests bench
	$(VENV)/bin/mypy upstage_assets

dev: setup
	DAGSTER_HOME=$(CURDIR)/data/dagster_home $(VENV)/bin/upstage-assets init
	DAGSTER_HOME=$(CURDIR)/data/dagster_home $(PY) -m upstage_assets.demo --prepare-only
	DAGSTER_HOME=$(CURDIR)/data/dagster_home $(VENV)/bin/dagster dev -h 127.0.0.1 -p 3000

clean:
	rm -rf data

bench: setup
	$(PY) bench/throughput.py
	$(PY) bench/memory.py
	$(PY) bench/local_engine.py

# Quick runs write to bench/results/quick/ so the full-size figures stay as measured.
bench-quick: setup
	UPSTAGE_BENCH_RESULTS=bench/results/quick $(PY) bench/throughput.py --quick
	UPSTAGE_BENCH_RESULTS=bench/results/quick $(PY) bench/memory.py --quick
	UPSTAGE_BENCH_RESULTS=bench/results/quick $(PY) bench/local_engine.py --quick

accuracy: setup
	$(PY) bench/accuracy.py

# Retrain the shipped receipt model (fixed seed) from the 500 labelled training receipts beside the
# project: every receipt from its transcripts and as read by the local engine's OCR (parse cache in
# data/cache/parse; TRAIN_OCR_LIMIT=N: the first N only); TRAIN_TEXT=ocr|transcripts for one reading only.
TRAIN_CORPUS ?= ../shared/corpus/receipts-train
TRAIN_TEXT ?= mixed
TRAIN_OCR_LIMIT ?=
train: setup
	$(PY) -m upstage_assets.local_engine.learned.fit $(TRAIN_CORPUS) --text $(TRAIN_TEXT) \
		$(if $(TRAIN_OCR_LIMIT),--ocr-limit $(TRAIN_OCR_LIMIT),) \
		--out upstage_assets/local_engine/learned/models/receipt.pt --results bench/results

# The chaos suite, then the pipeline fed 200 seeded mutations of real PDFs (make test runs 12).
reliability: setup
	$(PY) -m upstage_assets_tests.reliability.report
	UPSTAGE_FUZZ_COUNT=200 $(VENV)/bin/pytest -q -s upstage_assets_tests/reliability/test_fuzz_pipeline.py
