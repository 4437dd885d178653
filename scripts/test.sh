#!/usr/bin/env bash
# The README's test command: install what the tests need, then run lint, types, layer contracts
# and the whole pytest suite (a real tiny vLLM engine on the CPU, a real X server, real OCR).
# Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-system-deps.sh
bash scripts/install-app.sh test
bash scripts/install-test-engine.sh
echo "== ruff"; .venv/bin/ruff check . && .venv/bin/ruff format --check .
echo "== mypy"; .venv/bin/mypy
echo "== import-linter"; .venv/bin/lint-imports
echo "== pytest"; exec .venv/bin/python -m pytest -p no:cacheprovider "$@"
