#!/usr/bin/env bash
# The pylock consumers (tests/real/test_pylock.py): the newest pip and packaging>=26
# (packaging.pylock, PEP 751's reference reader) in their own venv under .real/pylock/.
# uv is the one mlstack pins (in the test venv). Idempotent; prints versions.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
venv=.real/pylock
if [[ ! -x $venv/bin/python ]] || ! "$venv/bin/python" -c 'import packaging.pylock' 2>/dev/null; then
    python3 -m venv --clear "$venv"
    "$venv/bin/python" -m pip install -q --upgrade pip 'packaging>=26'
fi
echo "pip: $("$venv/bin/pip" --version)"
echo "packaging: $("$venv/bin/python" -c 'import packaging; print(packaging.__version__)')"
# Whether this pip installs a PEP 751 lock (the tests ask the same question).
if "$venv/bin/pip" install --help | grep -qi pylock; then
    echo "pip installs pylock.toml files"
else
    echo "pip does not install pylock.toml files (pip install --help names no pylock option)"
fi
