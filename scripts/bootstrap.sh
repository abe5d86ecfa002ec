# Sourced by spark-submit.sh, demo.sh and test.sh: makes sure the project's environment exists.
# Creates .venv with a Python >= 3.11, installs the pinned packages (again whenever pyproject.toml
# changes) and resolves the Delta Lake JARs once into .jars/. All output goes to stderr.

MEDLAKE_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export MEDLAKE_ROOT
MEDLAKE_VENV="${MEDLAKE_VENV:-$MEDLAKE_ROOT/.venv}"
MEDLAKE_PY="$MEDLAKE_VENV/bin/python"

medlake_find_python() {
  local candidate
  for candidate in "${MEDLAKE_PYTHON:-}" python3.13 python3.12 python3.11 python3; do
    [ -n "$candidate" ] || continue
    if command -v "$candidate" >/dev/null 2>&1 &&
       "$candidate" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' 2>/dev/null; then
      command -v "$candidate"
      return 0
    fi
  done
  return 1
}

medlake_bootstrap() {
  local stamp_file="$MEDLAKE_VENV/.medlake-stamp" stamp python
  stamp="$(cat "$MEDLAKE_ROOT/pyproject.toml" | sha256sum | cut -c1-16)"
  if [ ! -x "$MEDLAKE_PY" ] || [ "$(cat "$stamp_file" 2>/dev/null)" != "$stamp" ]; then
    python="$(medlake_find_python)" || {
      echo "medlake: Unable to set up as no Python >= 3.11 was found; install one or set MEDLAKE_PYTHON" >&2
      return 2
    }
    command -v java >/dev/null 2>&1 || [ -n "${JAVA_HOME:-}" ] || {
      echo "medlake: Unable to set up as no Java was found; install Java 17 or newer" >&2
      return 2
    }
    echo "medlake: setting up $MEDLAKE_VENV (first run or pyproject.toml changed)..." >&2
    [ -x "$MEDLAKE_PY" ] || "$python" -m venv "$MEDLAKE_VENV" >&2 || return 2
    "$MEDLAKE_PY" -m pip install --quiet --upgrade pip >&2 || return 2
    "$MEDLAKE_PY" -m pip install --quiet -e "$MEDLAKE_ROOT[test]" >&2 || {
      echo "medlake: Unable to install the pinned packages; see pip's message above" >&2
      return 2
    }
    echo "$stamp" > "$stamp_file"
  fi
  "$MEDLAKE_PY" -m medlake.spark_defaults resolve >&2 || return 2
  export PATH="$MEDLAKE_VENV/bin:$PATH"
  export PYSPARK_PYTHON="$MEDLAKE_PY" PYSPARK_DRIVER_PYTHON="$MEDLAKE_PY"
}
