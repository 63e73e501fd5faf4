#!/usr/bin/env bash
# Mutation testing of the door's rules with mutmut ([tool.mutmut] in pyproject.toml): each mutant of the gate, the
# alerts, the label policy, the outbox, the web login (auth.py and the login handling of server.py), the pipeline,
# the tracker and the door zone runs the fast tests that execute its function; prints per module the killed, the
# survivors, those of them listed as equivalent in docs/mutation-report.md, and the score killed / (killed +
# survived - equivalent). Arguments: mutant name globs (default: every module, and of edge/web/server.py only the
# login), e.g. benchmarks/mutation.sh "edge.vision.gate*". One worker, niced: about 14 minutes wall for all here.
# Survivors: $VENV/bin/mutmut results; one mutant's diff: $VENV/bin/mutmut show NAME. Work files go to mutants/.
# VENV defaults to .venv of this checkout; a git worktree without one: VENV=/path/to/.venv benchmarks/mutation.sh
set -euo pipefail
cd "$(dirname "$0")/.."
venv="${VENV:-.venv}"
[ -x "$venv/bin/mutmut" ] || { echo "mutmut is missing: $venv/bin/python -m pip install -e '.[test,mutation]'" >&2; exit 2; }
export MASKGATE_SHARED="${MASKGATE_SHARED:-$PWD/../shared}"
export MASKGATE_MUTATION=1  # tests/test_tracker_properties.py: the same Hypothesis examples for every mutant
unset PYTHONPATH  # mutmut puts mutants/ first on the path; a checkout on PYTHONPATH would shadow the mutants
if [ $# -eq 0 ]; then
  login="edge.web.server.xǁDoorPageAppǁ"
  set -- "edge.vision.gate.*" "edge.outputs.alerts.*" "edge.vision.labels.*" "edge.outputs.outbox.*" \
    "edge.web.auth.*" "edge.pipeline.*" "edge.vision.tracker.*" "edge.vision.zone.*" \
    "${login}login*" "${login}logout*" "${login}signed_in*" "${login}host_allowed*" \
    "edge.web.server.x__same_origin*" "edge.web.server.x__form*" "edge.web.server.x__cookie*" "edge.web.server.x__https*"
fi
mkdir -p mutants
nice -n 10 "$venv/bin/mutmut" run --max-children "${MUTMUT_CHILDREN:-1}" "$@" >mutants/run.log 2>&1 || true
equivalent=$(grep -o '`edge\.[^`]*__mutmut_[0-9]*`' docs/mutation-report.md | tr -d '`' | sort -u || true)
"$venv/bin/mutmut" results --all true | awk -v equivalent="$equivalent" '
  BEGIN { n = split(equivalent, names, "\n"); for (i = 1; i <= n; i++) if (names[i] != "") listed[names[i]] = 1 }
  /: / { name = $1; sub(/:$/, "", name); status = $NF
         module = name; sub(/\.x[_ǁ].*/, "", module)
         if (status == "killed") killed[module]++
         else if (status == "survived") { survived[module]++; if (name in listed) same[module]++ }
         else if (status != "checked") other[module]++
         seen[module] = 1 }
  END { for (m in seen) { k = killed[m] + 0; s = survived[m] + 0; e = same[m] + 0
          printf "%-22s %7d %9d %11d %7d %5.1f%%\n", m, k, s, e, other[m] + 0, (k + s - e) ? 100 * k / (k + s - e) : 0 } }' |
  sort | { printf "%-22s %7s %9s %11s %7s %6s\n" module killed survived equivalent other score; cat; }
