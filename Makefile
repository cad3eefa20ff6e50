# make demo: install and start the provider with a demo contract and storage frontend.
# make test: install and run the whole test suite (starts its own PostgreSQL, Redis, SMTP).
# make mutation: mutation testing (mutmut, [mutmut] in setup.cfg) at low priority; not in test.
# make lock: rewrite the hashed dependency locks (requirements/*.txt) from setup.cfg.
# make coverage: branch coverage of policies/ by its table tests; fails under 100 % (part of test).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
LOCKS := requirements/pip.txt requirements/base.txt requirements/dev.txt
# Locks for every platform (markers where they differ) from Python 3.11 up; each file's hash.
UV_COMPILE = $(BIN)/uv pip compile --quiet --universal --python-version 3.11 --generate-hashes \
	--custom-compile-command 'make lock'

.PHONY: install lock system-packages demo screenshots test test-fast lint bench bench-full clean mutation coverage

# The dependencies come only from the hashed locks in requirements/ (pip refuses a file whose
# hash differs), installed by the locked pip (requirements/pip.txt); the project itself is
# installed without dependencies on top.
$(STAMP): setup.cfg $(LOCKS)
	PYTHON=$(PYTHON) bash scripts/ensure-system-packages.sh --python
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --require-hashes -r requirements/pip.txt
	$(BIN)/pip install --quiet --require-hashes -r requirements/dev.txt
	$(BIN)/pip install --quiet --no-deps -e .
	touch $(STAMP)

install: $(STAMP)

# Rewrite the locks from setup.cfg (after adding, removing or re-ranging a requirement): pins
# already in the files are kept where setup.cfg allows them, so only what changed moves.
# `make lock LOCK_ARGS=--upgrade` moves everything to the newest allowed release
# (`--upgrade-package NAME` one package). The dev lock is constrained by the base lock, so the
# image (base) and the tests (dev) run the same versions; tests/test_packaging.py checks both
# against setup.cfg.
lock: install
	$(UV_COMPILE) setup.cfg $(LOCK_ARGS) -o requirements/base.txt
	$(UV_COMPILE) setup.cfg $(LOCK_ARGS) --extra dev -c requirements/base.txt -o requirements/dev.txt
	$(UV_COMPILE) requirements/pip.in $(LOCK_ARGS) -o requirements/pip.txt

system-packages:
	PYTHON=$(PYTHON) bash scripts/ensure-system-packages.sh

# make demo DEMO_ARGS=--reset: the demo passwords, locks and line notice back (README "Try the demo").
demo: install
	IDP_DEV=1 $(BIN)/idp demo $(DEMO_ARGS)

# README's pictures: the browser gallery (every main page, 375/1280 px, ja/en), then a few of
# its screenshots cut and scaled into docs/screenshots/.
screenshots: install system-packages
	$(BIN)/python -m pytest -q -n 0 tests/browser/test_browser_gallery.py
	$(BIN)/python docs/screenshots/make_readme_pictures.py

test: install system-packages lint coverage
	$(BIN)/python -m pytest -n 2 --dist loadgroup -q

test-fast: install
	$(BIN)/python -m pytest -q -m "not browser" -x

lint: install
	$(BIN)/ruff check . && $(BIN)/ruff format --check . && $(BIN)/mypy
	$(BIN)/hadolint Dockerfile
	$(BIN)/shellcheck scripts/*.sh

# From scratch each time: `mutmut run` alone reuses mutants/ and keeps old results when the
# [mutmut] config or a non-Python file changed. The summary counts each package's mutants by
# result; `mutmut results` then lists the survivors (`mutmut show NAME` prints one's diff).
mutation: install system-packages
	rm -rf mutants
	nice -n 10 $(BIN)/mutmut run --max-children 2
	$(BIN)/mutmut results --all true | awk -F': ' '{ n = split($$1, p, "."); \
	  pkg = (p[1] ~ /idp$$/) ? p[1] "." p[2] : p[1]; gsub(/ /, "", pkg); c[pkg ": " $$2]++ } \
	  END { for (k in c) print k, c[k] }' | sort
	$(BIN)/mutmut results

coverage: install
	$(BIN)/python -m pytest -q -p no:randomly tests/test_policies.py tests/test_policies_links.py \
	  tests/test_policies_mutants.py tests/test_plan.py tests/test_permissions.py \
	  tests/test_login_method_rules.py tests/test_assurance.py tests/test_what_if.py \
	  tests/test_admin_policy.py tests/test_policies_console.py \
	  --cov=policies --cov-branch --cov-report=term-missing --cov-fail-under=100

# make bench: every flow on SQLite and the targets of issue 13 (about 2 min); make bench-full:
# SQLite and a private PostgreSQL + Redis, with the load mode, Poisson and uniform arrivals
# (about 18 min). bench/README.md.
bench: install
	$(BIN)/python bench/login_bench.py

bench-full: install system-packages
	$(BIN)/python bench/login_bench.py --backends sqlite,postgres --load --arrivals poisson,uniform

clean:
	rm -rf $(VENV) instance test-artifacts mutants .coverage
