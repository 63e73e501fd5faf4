#!/usr/bin/env bash
# Mutation testing of the door's rules with mutmut ([tool.mutmut] in pyproject.toml): each mutant of
# edge/vision/gate.py, edge/outputs/alerts.py, edge/vision/labels.py, edge/outputs/outbox.py and edge/web/auth.py runs the fast tests
# that execute its function; prints killed/survived per module. Arguments: mutant name globs (default: all),
# e.g. benchmarks/mutation.sh "edge.vision.gate*". One worker, niced: about 4 minutes of one core for all five.
# Survivors: .venv/bin/mutmut results; one mutant's diff: .venv/bin/mutmut show NAME. Work files go to mutants/.
set -euo pipefail
cd "$(dirname "$0")/.."
venv="${VENV:-.venv}"
[ -x "$venv/bin/mutmut" ] || { echo "mutmut is missing: $venv/bin/python -m pip install -e '.[test,mutation]'" >&2; exit 2; }
export MASKGATE_SHARED="${MASKGATE_SHARED:-$PWD/../shared}"
unset PYTHONPATH  # mutmut puts mutants/ first on the path; a checkout on PYTHONPATH would shadow the mutants
nice -n 10 "$venv/bin/mutmut" run --max-children "${MUTMUT_CHILDREN:-1}" "$@" >mutants/run.log 2>&1 || true
"$venv/bin/mutmut" results --all true | awk '
  /: / { name = $1; sub(/:$/, "", name); status = $NF
         module = name; sub(/\.x[_ǁ].*/, "", module)
         if (status == "killed") killed[module]++; else if (status == "survived") survived[module]++
         else if (status != "checked") other[module]++
         seen[module] = 1 }
  END { for (m in seen) { k = killed[m] + 0; s = survived[m] + 0
          printf "%-22s %7d %9d %7d %5.1f%%\n", m, k, s, other[m] + 0, (k + s) ? 100 * k / (k + s) : 0 } }' | sort | {
  printf "%-22s %7s %9s %7s %6s\n" module killed survived other score; cat; }
