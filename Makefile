# Curbside — two commands on a fresh machine:
#   make run    set up, migrate, seed demo data, serve on http://127.0.0.1:8000 (embedded default)
#   make test   set up, check the package layers (tools/lazy_imports.py, lint-imports with the
#               contract in pyproject.toml) and run the whole suite (CI: PostgreSQL + Redis)
PYTHON ?= python3
VENV   ?= .venv
PY      = $(VENV)/bin/python
HOST   ?= 127.0.0.1
PORT   ?= 8000

.PHONY: run test setup lint smoke clean screenshots

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $@

setup: $(VENV)/.installed

run: setup
	$(PY) manage.py migrate --noinput
	$(PY) manage.py seed_demo
	$(PY) manage.py search_reindex --missing
	$(PY) manage.py serve -b $(HOST) -p $(PORT)

# The suite runs on PostgreSQL + Redis (defaults below; override with DATABASE_URL/REDIS_URL).
TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/curbside
TEST_REDIS_URL    ?= redis://127.0.0.1:6379/0

test: setup
	$(PY) -m ruff check .
	$(PY) -m tools.lazy_imports
	$(VENV)/bin/lint-imports
	@DATABASE_URL=$${DATABASE_URL:-$(TEST_DATABASE_URL)} REDIS_URL=$${REDIS_URL:-$(TEST_REDIS_URL)} \
	  $(PY) -m pytest $(PYTEST_ARGS); rc=$$?; \
	  if [ $$rc -eq 5 ]; then echo "FAILED: pytest collected no tests"; fi; exit $$rc

lint: setup
	$(PY) -m ruff check .

clean:
	rm -rf $(VENV) var/*.sqlite3* var/test_*

# docs/screenshots/*.png (linked from README.md): the main screens, desktop and phone, English
# and Spanish, taken from the real client against a real daphne (tests/frontend/screenshots.py).
screenshots: setup
	@DATABASE_URL=$${DATABASE_URL:-$(TEST_DATABASE_URL)} REDIS_URL=$${REDIS_URL:-$(TEST_REDIS_URL)} \
	  $(PY) -m pytest tests/frontend/screenshots.py -q
