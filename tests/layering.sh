#!/bin/sh
# The layering rules of docs/architecture.md §2 / docs/style.md, checked by
# grep:
# - src/ is one-way: a folder includes only its own headers and those of
#   the folders below it, in the order
#     core <- config <- route, upstream <- http <- plugins <- event
#          <- control <- admin, main.c
#   (route and upstream sit side by side and do not include each other);
# - the data plane (src/core, config, event, http, route, upstream) never
#   includes raft/;
# - src/ reaches raft/ only through the facade raft/rgraft.h, and only from
#   main.c, src/control/ and src/admin/;
# - raft/ includes nothing from src/ but core/alloc.h, core/failpoint.h,
#   core/rgassert.h, core/err.h, core/xref.h (plain data),
#   core/window.h (pure window arithmetic: the quota ledger must compute
#   the same windows as the rate-limiting plugin, from the entry's stamp)
#   and core/secret.h (the cluster key: its size limits, which the
#   transport checks as the node config does, and its wiped copy).
# Prints each violation; exits 1 if there is any.
set -u
top=${RAFTGATE_SRCDIR:-$(cd "$(dirname "$0")/.." && pwd)}
cd "$top" || exit 2
bad=0
report() { echo "layering: $*"; bad=1; }

# rank of a src/ folder in the one-way order; route and upstream share one
rank() {
    case $1 in
    core) echo 0 ;; config) echo 1 ;; route | upstream) echo 2 ;;
    http) echo 3 ;; plugins) echo 4 ;; event) echo 5 ;;
    control) echo 6 ;; admin) echo 7 ;;
    *) echo 9 ;;
    esac
}
for dir in core config route upstream http plugins event admin control; do
    me=$(rank "$dir")
    for inc in $(grep -ho '#include "[a-z_]*/' "src/$dir"/*.[ch] 2>/dev/null |
                 sed 's/#include "//; s|/$||' | sort -u); do
        [ "$inc" = raft ] && continue     # checked below
        [ "$inc" = "$dir" ] && continue
        it=$(rank "$inc")
        if [ "$it" -gt "$me" ] ||
           { [ "$it" -eq "$me" ] && [ "$it" -eq 2 ]; }; then
            grep -ln "#include \"$inc/" "src/$dir"/*.[ch] | while read -r f; do
                echo "layering: $f includes $inc/, which is not below $dir/"
            done
            bad=1
        fi
    done
done

for f in $(grep -rl '#include "raft/' src/core src/config src/event src/http \
               src/route src/upstream 2>/dev/null); do
    report "$f: the data plane includes raft/"
done
grep -rn '#include "raft/' src | grep -v '#include "raft/rgraft.h"' |
    while IFS= read -r line; do echo "layering: $line: only raft/rgraft.h may be included"; done |
    grep . && bad=1
for f in $(grep -rl '#include "raft/rgraft.h"' src); do
    case $f in
    src/main.c | src/admin/* | src/control/*) ;;
    *) report "$f: only main.c, src/admin/ and src/control/ may include the raft facade" ;;
    esac
done
grep -rn '#include "' raft | grep -v '#include "raft/' |
    grep -v -e '#include "core/alloc.h"' -e '#include "core/failpoint.h"' \
        -e '#include "core/rgassert.h"' -e '#include "core/err.h"' \
        -e '#include "core/xref.h"' -e '#include "core/window.h"' \
        -e '#include "core/secret.h"' | sed 's/^/layering: raft includes src: /' |
    grep . && bad=1
[ $bad -eq 0 ] && echo "layering: ok"
exit $bad
