#!/usr/bin/env bash
# The 100-member lounge, this checkout against another one (e.g. the commit before a
# refactoring), alternating, N runs each, on this machine in the same hour. Each tree runs
# its own bench code on a database and Redis db of its own (their schemas may differ).
#
#   bench/compare_trees.sh OTHER_CHECKOUT [RUNS]
#
# Results: /tmp/bench-compare/<tree>-<run>.log (the fanout table of each run).
set -u
other=$(cd "$1" && pwd); runs=${2:-3}; here=$(cd "$(dirname "$0")/.." && pwd)
py=${PYTHON:-$here/.venv/bin/python}
mkdir -p /tmp/bench-compare
i=0
for rep in $(seq 1 "$runs"); do
  for tree in "$other" "$here"; do
    i=$((i + 1)); name=$([ "$tree" = "$here" ] && echo this || echo other)
    db=curbside_bench_$name; redis=$([ "$name" = other ] && echo 11 || echo 13)
    createdb -h 127.0.0.1 -U postgres "$db" 2>/dev/null || true
    (cd "$tree" && "$py" -m bench --scenarios fanout --topologies embedded,redis-1 \
       --apps curbside --members 100 --offered 10000 --duration 6 \
       --database-url "postgres://postgres@127.0.0.1:5432/$db" \
       --redis-curbside "redis://127.0.0.1:6379/$redis" \
       --root "/tmp/bench-compare/root-$name" --out "/tmp/bench-compare/out-$name-$rep") \
       > "/tmp/bench-compare/$name-$rep.log" 2>&1
    echo "$name run $rep: exit $?"
  done
done
