#!/bin/sh
# The layering rules of DESIGN.md §2 / STYLE.md, checked by grep:
# - the data plane (src/core, config, event, http, route, upstream) never
#   includes raft/;
# - src/ reaches raft/ only through the facade raft/rgraft.h, and only from
#   main.c and src/admin/;
# - raft/ includes nothing from src/ but core/alloc.h, core/failpoint.h and
#   core/rgassert.h.
# Prints each violation; exits 1 if there is any.
set -u
top=${RAFTGATE_SRCDIR:-$(cd "$(dirname "$0")/.." && pwd)}
cd "$top" || exit 2
bad=0
report() { echo "layering: $*"; bad=1; }

for f in $(grep -rl '#include "raft/' src/core src/config src/event src/http \
               src/route src/upstream 2>/dev/null); do
    report "$f: the data plane includes raft/"
done
grep -rn '#include "raft/' src | grep -v '#include "raft/rgraft.h"' |
    while IFS= read -r line; do echo "layering: $line: only raft/rgraft.h may be included"; done |
    grep . && bad=1
for f in $(grep -rl '#include "raft/rgraft.h"' src); do
    case $f in
    src/main.c | src/admin/*) ;;
    *) report "$f: only main.c and src/admin/ may include the raft facade" ;;
    esac
done
grep -rn '#include "' raft | grep -v '#include "raft/' |
    grep -v -e '#include "core/alloc.h"' -e '#include "core/failpoint.h"' \
        -e '#include "core/rgassert.h"' -e '#include "core/err.h"' | sed 's/^/layering: raft includes src: /' |
    grep . && bad=1
[ $bad -eq 0 ] && echo "layering: ok"
exit $bad
