#!/usr/bin/env bash
# Real index servers as [mirrors] (tests/real/test_mirrors.py): pypiserver and devpi-server
# from PyPI, each in its own venv under <repo>/.real/ (git-ignored), never in the test venv.
# Idempotent: an existing venv with the pinned version is kept. Prints the versions.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."

PYPISERVER=2.4.2      # the version issue 18 was seen with
DEVPI_SERVER=6.20.3
DEVPI_CLIENT=7.3.0

install() {  # install <venv name> <requirement>...
    local venv=".real/$1"
    shift
    if [[ ! -x $venv/bin/python ]]; then
        python3 -m venv "$venv"
    fi
    "$venv/bin/pip" install -q --disable-pip-version-check "$@"
}

install pypiserver "pypiserver==$PYPISERVER" "passlib"
install devpi "devpi-server==$DEVPI_SERVER" "devpi-client==$DEVPI_CLIENT"

echo "pypiserver $(.real/pypiserver/bin/pypi-server --version)"
echo "devpi-server $(.real/devpi/bin/devpi-server --version)"
echo "devpi-client $(.real/devpi/bin/python -c 'import importlib.metadata as m; print(m.version("devpi-client"))')"
