# The two commands a newcomer needs: `make demo` and `make test`. Both set up .venv themselves.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
DURATION ?= 60
PYTEST_ARGS ?=

TRAIN_VENV ?= .venv-train
TRAIN_BIN := $(TRAIN_VENV)/bin
WORKERS ?= 2

.PHONY: demo test test-fast lint kafka bench train train-ledge train-lmetals train-k3d feff10-3d feff10-archive cache-archive clean

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
	$(BIN)/python -m pip install -q -e '.[bench]' -e './stream[beamline,agent]'
	$(BIN)/python -m bench.run $(BENCH_ARGS)

# Rebuilds the Cu K-edge models (plugins/valence, motif, screening: .onnx, library, cards) from
# ../shared on CPU. Every step is cached in ~/.cache/edgestream and resumes where it stopped. The
# FEFF10 runs (hours on 2 cores: WORKERS=N) come from the committed archive
# models/edgestream_models/data/feff10_<edge>_runs.tar.xz where it has them (`seed`), the
# structure labels and M3GNet features from
# models/edgestream_models/data/{labels,features}_*.jsonl.xz; `make feff10-archive` and
# `make cache-archive` refresh them after new runs.
train: $(TRAIN_VENV)/.installed
	$(TRAIN_BIN)/python -m edgestream_models.cache_archive seed
	$(TRAIN_BIN)/python -m edgestream_models.generate_feff10 seed
	$(TRAIN_BIN)/python -m edgestream_models.labels --processes $(WORKERS)
	$(TRAIN_BIN)/python -m edgestream_models.site_features --omnixas
	$(TRAIN_BIN)/python -m edgestream_models.generate_feff10 calibration --workers $(WORKERS)
	$(TRAIN_BIN)/python -m edgestream_models.generate_feff10 generate --workers $(WORKERS)
	$(TRAIN_BIN)/python -m edgestream_models.generate_feff10 collect
	$(TRAIN_BIN)/python -m edgestream_models.calibration
	$(TRAIN_BIN)/python -m edgestream_models.dataset build --processes $(WORKERS)
	$(TRAIN_BIN)/python -m edgestream_models.train_all
	$(MAKE) train-ledge
	$(MAKE) train-lmetals
	$(MAKE) train-k3d

# Rebuilds the k_edge family (plugins/edgestream_plugins/k_edge: valence and coordination of
# the 3d K edges, one folder and card per element and task) from the FEFF10 runs of the
# committed archives (no new runs: `make feff10-3d` computes those), then reads the measured
# validation spectra (tests/data/measured-3d-k) into the cards and draws the family's figure.
train-k3d: $(TRAIN_VENV)/.installed
	$(TRAIN_BIN)/python -m edgestream_models.generate_feff10 seed
	$(TRAIN_BIN)/python -m edgestream_models.generate_feff10 --element all seed
	$(TRAIN_BIN)/python -m edgestream_models.k3d
	$(TRAIN_BIN)/python -m edgestream_models.k3d_validate

# Rebuilds the Cu L2,3 model (plugins/cu_l: valence and mixture fractions, card) and the
# simulated microscope's spectra: FEFF10 L3 of 720 OmniXAS sites (one per material, Cu(I),
# Cu(II), Cu(III); ~16 % crash in FEFF's xsph, 610 finish) and of the non-oxide prototypes
# (Cu(0) ...), 10-90 CPU-s per site with SCF (about 4.5 h on 2 cores from nothing), cached and
# resumable. The committed archive holds every run: seeded from it, ~1.5 min, byte-identical.
train-ledge: $(TRAIN_VENV)/.installed
	$(TRAIN_BIN)/python -m edgestream_models.cache_archive seed
	$(TRAIN_BIN)/python -m edgestream_models.labels --valence-only --processes $(WORKERS)
	$(TRAIN_BIN)/python -m edgestream_models.generate_feff10 --edge L3 seed
	$(TRAIN_BIN)/python -m edgestream_models.generate_feff10 --edge L3 calibration --workers $(WORKERS)
	$(TRAIN_BIN)/python -m edgestream_models.generate_feff10 --edge L3 omnixas --sites 720 --workers $(WORKERS)
	$(TRAIN_BIN)/python -m edgestream_models.generate_feff10 --edge L3 generate --workers $(WORKERS)
	$(TRAIN_BIN)/python -m edgestream_models.ledge --fixture
	$(TRAIN_BIN)/python -m edgestream_models.ledge

# Rebuilds the L2,3 valence models of Mn, Fe, Co and Ni (plugins/l_edge, one card each) and their
# reference spectra (stream/edgestream_sim/data): edrixs multiplet sets, seeded from
# models/edgestream_models/data/multiplets_<el>_l23.tar.xz (without the archives: 41 CPU-min of
# diagonalizations, cached and resumable), then about 1.5 min of training per element.
train-lmetals: $(TRAIN_VENV)/.installed
	$(TRAIN_BIN)/python -m edgestream_models.multiplets.generate run --element Mn
	$(TRAIN_BIN)/python -m edgestream_models.multiplets.generate run --element Fe
	$(TRAIN_BIN)/python -m edgestream_models.multiplets.generate run --element Co
	$(TRAIN_BIN)/python -m edgestream_models.multiplets.generate run --element Ni
	$(TRAIN_BIN)/python -m edgestream_models.lmetals --fixture
	$(TRAIN_BIN)/python -m edgestream_models.lmetals

# FEFF10 K edges of Ti, V, Cr, Mn, Fe, Co, Ni, Zn (issue 31): the metals (energy calibration),
# 72 oxide prototype sites, then the 1,683 inequivalent co-cation sites of the OmniXAS
# structures, round-robin over the elements (1,766 runs, ~10-90 CPU-s each: many hours on 2
# cores). Seeded from models/edgestream_models/data/feff10_<El>_K_runs.tar.xz, cached per input,
# resumable: stop it at any time, run it again, and finished sites are skipped. ELEMENTS=Fe,Co
# for some.
ELEMENTS ?= all
feff10-3d: $(TRAIN_VENV)/.installed
	$(TRAIN_BIN)/python -m edgestream_models.generate_feff10 --element $(ELEMENTS) seed
	nice -n 19 $(TRAIN_BIN)/python -m edgestream_models.generate_feff10 --element $(ELEMENTS) k3d --workers $(WORKERS) --log-each

feff10-archive: $(TRAIN_VENV)/.installed
	$(TRAIN_BIN)/python -m edgestream_models.generate_feff10 pack
	$(TRAIN_BIN)/python -m edgestream_models.generate_feff10 --edge L3 pack
	$(TRAIN_BIN)/python -m edgestream_models.generate_feff10 --element all pack

# The structure labels and M3GNet site features (~30 CPU-min from ../shared) as committed
# models/edgestream_models/data/{labels,features}_*.jsonl.xz, which `make train` seeds its cache
# from.
cache-archive: $(TRAIN_VENV)/.installed
	$(TRAIN_BIN)/python -m edgestream_models.cache_archive pack

# torch (a CUDA build of several GB, run on the CPU here), matgl, pymatgen, feff10-rs: kept
# out of the service's and the tests' environment.
$(TRAIN_VENV)/.installed: pyproject.toml stream/pyproject.toml models/pyproject.toml
	$(PYTHON) -m venv $(TRAIN_VENV)
	$(TRAIN_BIN)/python -m pip install -q --upgrade pip
	$(TRAIN_BIN)/python -m pip install -q -e '.[test]' -e './stream[beamline,agent]' -e './models[torch]'
	touch $@

# Three distributions of this repository, editable: the service (.), the lab around it
# (./stream: simulated beamline, demo, agent, development brokers), the training (./models,
# without torch: the tests check its FEFF inputs, labels and exports).
$(VENV)/.installed: pyproject.toml stream/pyproject.toml models/pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test]' -e './stream[beamline,agent]' -e ./models
	touch $@

clean:
	rm -rf $(VENV) $(TRAIN_VENV) build *.egg-info .pytest_cache .ruff_cache
