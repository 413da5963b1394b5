# The README's commands. Each does its own set-up on a fresh machine (a venv in .venv).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: install system-tools test lint bench bench-reliability train train-router router-runs router-seeds serve protos k8s lock audit

$(VENV)/.installed: pyproject.toml clients/python/pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e clients/python -e '.[test]'
	touch $@

install: $(VENV)/.installed

node_modules/.bin/buf: package.json
	npm install --no-audit --no-fund --silent
	touch $@

lint: install node_modules/.bin/buf
	node_modules/.bin/buf lint
	node_modules/.bin/buf format --diff --exit-code
	@# breaking-change check against main (a no-op on main itself)
	if git rev-parse -q --verify refs/heads/main >/dev/null; then \
		node_modules/.bin/buf breaking --against '.git#branch=main'; fi
	$(PY) -m ruff check server tests bench deployments clients scripts
	$(PY) -m ruff format --check server tests bench deployments clients scripts
	@# the container build (no Docker engine needed to lint it)
	if [ -x $(VENV)/bin/hadolint ]; then $(VENV)/bin/hadolint Dockerfile; fi

# Programs some tests and benchmarks use, from Debian where missing (potrace: the benchmark's peer).
# A machine without apt or root still runs the suite: those tests skip and say why.
system-tools:
	@command -v potrace >/dev/null || (command -v apt-get >/dev/null && \
		(apt-get install -y -qq potrace >/dev/null 2>&1 || \
		 (apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq potrace >/dev/null 2>&1)) || \
		echo "potrace not installed: its tests will skip")

test: install lint system-tools
	$(PY) -m pytest -q

bench: install system-tools
	$(PY) bench/quality.py --markdown bench/out/quality.md --sheet docs/contact_sheet.png

# The mapping model from scratch (about 45 minutes on 2 cores): the seeded pool's table, then the
# configurations search finds on each dev logo added to it (fold-tagged), then the model
train: install
	$(PY) -m tracewise.training.table -o data/mapping_table.npz
	rm -f data/mapping_search_configs.json
	$(PY) -m tracewise.training.search_pool --budget 1.5 --augs orig,jpeg
	$(PY) -m tracewise.training.mapping

# The router and logo-type models from the shipped runs in data/ (about a minute)
train-router: install
	$(PY) -m tracewise.training.router --learning-curve
	$(PY) -m tracewise.training.logotype

# The router's runs from scratch (hours on 2 cores; `make bench` first writes quality_rows.json)
router-runs: install
	$(VENV)/bin/tracewise bench --methods default,search --search-budget 1 --json bench/out/quality_rows_1s.json
	$(PY) -m tracewise.training.router --from-bench bench/out/quality_rows.json --search-1s bench/out/quality_rows_1s.json
	$(PY) -m tracewise.training.router_augment --budget 1
	$(PY) -m tracewise.training.router_augment --budget 5 --append
	$(PY) -m tracewise.training.router_augment --budget 1 --augs orig,scale128,background,jpeg \
		--scenarios cap50,target90,target95,polygon --out data/router_table_requests.csv
	$(PY) -m tracewise.training.router_augment --budget 5 --augs orig,background,jpeg \
		--scenarios cap50,target90,target95,polygon --out data/router_table_requests.csv --append
	$(PY) -m tracewise.training.router_augment --budget 1 --augs noise,scale384,crop,scale64,scale1024 \
		--scenarios default,cap50,target90,target95,polygon --out data/router_table_requests.csv --append
	$(PY) -m tracewise.training.router_augment --budget 1 \
		--augs orig,scale128,background,jpeg,noise,scale384,crop,scale64,scale1024 \
		--scenarios pixel --out data/router_table_requests.csv --append
	$(PY) -m tracewise.training.router_augment --budget 5 --augs orig --scenarios pixel \
		--out data/router_table_requests.csv --append

# How much the router's labels hang on search's seed: search again at 1 s on the logos with three
# other seeds (about 20 minutes), then the agreement and the accuracy ceiling it implies
router-seeds: install
	mkdir -p bench/out
	for s in 1 2 3; do $(PY) -m tracewise.training.router_augment --budget 1 --augs orig --methods search \
		--scenarios default,cap50,target90,target95,polygon --seed $$s --out bench/out/router_seed$$s.csv; done
	$(PY) -m tracewise.training.router --seed-runs bench/out/router_seed1.csv bench/out/router_seed2.csv \
		bench/out/router_seed3.csv

serve: install
	$(VENV)/bin/tracewise serve

protos: install node_modules/.bin/buf
	$(PY) scripts/gen_protos.py
	node_modules/.bin/buf lint

# serveConfigV2 in k8s/base/rayservice.yaml is deployments/serve_config.yaml, copied
k8s: install
	$(PY) scripts/sync_k8s.py

# bad inputs + atheris, cancellation, replica faults, overload (about 12 minutes on 2 cores)
bench-reliability: install
	$(PY) -m pip install -q -e '.[tools]'
	$(PY) bench/bad_inputs.py --markdown bench/out/bad_inputs.md
	$(PY) bench/cancel.py --markdown bench/out/cancel.md
	$(PY) bench/faults.py --markdown bench/out/faults.md
	$(PY) bench/overload.py --markdown bench/out/overload.md

# the exact versions a working install resolved to, for auditing and reproducing
lock: install
	$(PY) -m pip freeze --exclude-editable | grep -v -i '^tracewise' > requirements.lock

# strict: fails when any locked package could not be checked (no silent pass when the
# vulnerability service is unreachable, as it is from the build machines)
audit: install
	$(PY) -m pip install -q -e '.[tools]'
	$(PY) -m pip_audit -r requirements.lock --no-deps --disable-pip --strict --progress-spinner off
