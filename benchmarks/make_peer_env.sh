#!/usr/bin/env bash
# Create the virtual environment holding the pinned peer tools that setpoint's
# tracking, data-management, model, serving and drift benchmarks compare against
# (benchmarks/peers/*.py run inside it): MLflow, DVC, Great Expectations and Evidently (and
# scikit-learn for MLflow's model registry and serving).
#
# Usage: benchmarks/make_peer_env.sh
# Env:   SETPOINT_PEER_VENV  venv location (default: <this folder>/.venv-peers)
#        PYTHON              interpreter used to create the venv (default: python3)
#
# Idempotent: if the venv already has the pinned versions, nothing is done.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
venv="${SETPOINT_PEER_VENV:-$here/.venv-peers}"
python="${PYTHON:-python3}"

MLFLOW_VERSION="3.17.2"
PSYCOPG_VERSION="3.3.9"   # PostgreSQL driver for --db-url postgresql://... runs
# (SQLAlchemy 2.1 maps a plain postgresql:// URL to psycopg 3, not psycopg2)
DVC_VERSION="3.67.1"
GX_VERSION="1.24.1"
EVIDENTLY_VERSION="0.7.23"
PANDAS_SPEC="pandas<3"    # Great Expectations (and evidently) do not support pandas 3
SKLEARN_SPEC="scikit-learn>=1.4"  # the model MLflow's registry benchmark logs

peers=(
    "mlflow==${MLFLOW_VERSION}"
    "psycopg[binary]==${PSYCOPG_VERSION}"
    "dvc==${DVC_VERSION}"
    "great_expectations==${GX_VERSION}"
    "evidently==${EVIDENTLY_VERSION}"
    "${PANDAS_SPEC}"
    "${SKLEARN_SPEC}"
)
summary="mlflow ${MLFLOW_VERSION}, dvc ${DVC_VERSION}, great_expectations ${GX_VERSION}, evidently ${EVIDENTLY_VERSION}"

is_ready() {
    [[ -x "$venv/bin/python" ]] || return 1
    "$venv/bin/python" - "$MLFLOW_VERSION" "$PSYCOPG_VERSION" "$DVC_VERSION" "$GX_VERSION" \
        "$EVIDENTLY_VERSION" \
        <<'PY' >/dev/null 2>&1
import sys
from importlib.metadata import version

import dvc  # noqa: F401
import evidently  # noqa: F401
import great_expectations  # noqa: F401
import mlflow  # noqa: F401
import psycopg  # noqa: F401
import sklearn  # noqa: F401

wanted = dict(zip(("mlflow", "psycopg", "dvc", "great_expectations", "evidently"), sys.argv[1:]))
ok = all(version(name) == v for name, v in wanted.items())
ok = ok and int(version("pandas").split(".")[0]) < 3
sys.exit(0 if ok else 1)
PY
}

if is_ready; then
    [[ -f "$venv/.gitignore" ]] || printf '# created by make_peer_env.sh\n*\n' > "$venv/.gitignore"
    echo "peer venv ready: $venv (${summary})"
    exit 0
fi

if [[ ! -x "$venv/bin/python" ]]; then
    echo "creating peer venv: $venv"
    "$python" -m venv "$venv"
fi
# Keep the venv out of git even without a .gitignore entry (Python >= 3.13 venv does this itself).
[[ -f "$venv/.gitignore" ]] || printf '# created by make_peer_env.sh\n*\n' > "$venv/.gitignore"

"$venv/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check "${peers[@]}"

if ! is_ready; then
    echo "peer venv at $venv is not usable after install" >&2
    exit 1
fi
echo "peer venv ready: $venv (${summary})"
