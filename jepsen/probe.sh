#!/bin/bash
# Capability probe for the jepsen suite (docs/fault-injection.md section 3): re-checks
# the mechanisms the nemeses rely on, one PASS/FAIL line each, and ends
# with "N passed, N failed".  Needs root.  Everything happens inside
# namespaces named rgj<pid>*, removed on exit; nothing in the root netns.
set -u
P=rgj$$
NET=10.77.0
here=$(cd "$(dirname "$0")" && pwd)
pass=0 fail=0
TMP=$(mktemp -d /tmp/rgjprobe.XXXXXX)
mkdir -p /run/rgj-jepsen
echo "{\"prefix\": \"$P\", \"pid\": $$, \"mounts\": [], \"freezer\": []}" \
    > /run/rgj-jepsen/$P.json
ok() { echo "PASS $1"; pass=$((pass + 1)); }
ko() { echo "FAIL $1${2:+: $2}"; fail=$((fail + 1)); }
t() { local name=$1; shift; if "$@" >/dev/null 2>&1; then ok "$name"; else ko "$name"; fi; }
cleanup() {
    for ns in ${P}n1 ${P}n2 ${P}hub; do
        for pid in $(ip netns pids $ns 2>/dev/null); do kill -9 "$pid" 2>/dev/null; done
        ip netns del $ns 2>/dev/null
    done
    mountpoint -q "$TMP/m" && umount "$TMP/m"
    rm -rf "$TMP" /run/rgj-jepsen/$P.json
}
trap cleanup EXIT
X() { ip netns exec "$@"; }
conn() {  # conn NS IP PORT TIMEOUT -> prints ok/refused/timeout
    X "$1" /usr/bin/python3 -c "
import socket;s=socket.socket();s.settimeout($4)
try: s.connect(('$2',$3));print('ok')
except ConnectionRefusedError: print('refused')
except OSError: print('timeout')"
}

[ "$(id -u)" = 0 ] && ok "running as root" || ko "running as root"
t "python3 at /usr/bin/python3" test -x /usr/bin/python3
t "tools: ip nft iptables" command -v ip nft iptables
t "netns: create hub and two nodes" sh -c "ip netns add ${P}hub && ip netns add ${P}n1 && ip netns add ${P}n2"
t "bridge in hub netns" sh -c "ip -n ${P}hub link add br0 type bridge && ip -n ${P}hub link set br0 up"
t "veth straight into node netns" sh -c "
for i in 1 2; do
  ip -n ${P}hub link add v\$i type veth peer name eth0 netns ${P}n\$i &&
  ip -n ${P}hub link set v\$i master br0 up &&
  ip -n ${P}n\$i addr add $NET.\$i/24 dev eth0 && ip -n ${P}n\$i link set eth0 up &&
  ip -n ${P}n\$i link set lo up || exit 1
done"
# a listener in n2 for the connectivity checks (bounded lifetime)
X ${P}n2 /usr/bin/python3 -c "
import socket,time
s=socket.socket();s.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1)
s.bind(('$NET.2',9000));s.listen(128);s.settimeout(1)
end=time.monotonic()+60
while time.monotonic()<end:
    try:
        c,_=s.accept();c.settimeout(2);d=c.recv(16);c.sendall(d or b'');c.close()
    except OSError: pass" >/dev/null 2>&1 &
for _ in $(seq 1 50); do [ "$(conn ${P}n1 $NET.2 9000 0.2)" = ok ] && break; sleep 0.1; done
[ "$(conn ${P}n1 $NET.2 9000 0.5)" = ok ] && ok "n1 reaches n2" || ko "n1 reaches n2"
t "root netns untouched (no $P links)" sh -c "! ip link | grep -q $P"
printf 'add table inet jepsen\nadd chain inet jepsen input { type filter hook input priority -10 ; policy accept ; }\nadd rule inet jepsen input ip saddr %s.1 drop\n' $NET | X ${P}n2 nft -f - 2>/dev/null
[ "$(conn ${P}n1 $NET.2 9000 0.3)" = timeout ] && ok "nft partition drops" || ko "nft partition drops"
X ${P}n2 nft delete table inet jepsen 2>/dev/null
[ "$(conn ${P}n1 $NET.2 9000 0.5)" = ok ] && ok "nft heal restores" || ko "nft heal restores"
t "nft numgen loss rule" sh -c "printf 'add table inet jl\nadd chain inet jl input { type filter hook input priority -5 ; policy accept ; }\nadd rule inet jl input ip saddr $NET.0/24 numgen random mod 100 < 30 drop\n' | ip netns exec ${P}n2 nft -f - && ip netns exec ${P}n2 nft delete table inet jl"
X ${P}n2 iptables -w -A INPUT -s $NET.1 -p tcp -j REJECT --reject-with tcp-reset 2>/dev/null
[ "$(conn ${P}n1 $NET.2 9000 0.5)" = refused ] && ok "iptables REJECT (fast-fail partition)" || ko "iptables REJECT (fast-fail partition)"
X ${P}n2 iptables -w -F INPUT 2>/dev/null
X ${P}n1 iptables -w -A OUTPUT -d $NET.0/24 -j NFQUEUE --queue-num 0 --queue-bypass
X ${P}n1 /usr/bin/python3 "$here/harness/nfq_delay.py" 0 100 0 0 20 >"$TMP/nfq.log" 2>&1 &
for _ in $(seq 1 50); do grep -q "^nfq_delay: queue" "$TMP/nfq.log" && break; sleep 0.1; done
ms=$(X ${P}n1 /usr/bin/python3 -c "
import socket,time;t=time.monotonic();s=socket.create_connection(('$NET.2',9000),3);print(int((time.monotonic()-t)*1000))" 2>/dev/null)
[ -n "$ms" ] && [ "$ms" -ge 80 ] && ok "NFQUEUE delayer (connect ${ms} ms at 100 ms)" || ko "NFQUEUE delayer" "connect '${ms}' ms"
for pid in $(ip netns pids ${P}n1); do kill -TERM "$pid" 2>/dev/null; done
X ${P}n1 iptables -w -F OUTPUT 2>/dev/null
t "tc tbf qdisc" sh -c "ip netns exec ${P}n1 tc qdisc add dev eth0 root tbf rate 1mbit burst 32kbit latency 400ms && ip netns exec ${P}n1 tc qdisc del dev eth0 root"
if X ${P}n1 tc qdisc add dev eth0 root netem delay 10ms >/dev/null 2>&1; then
    echo "INFO netem present"; X ${P}n1 tc qdisc del dev eth0 root
else echo "INFO netem absent (expected; NFQUEUE delayer used)"; fi
sleep 30 & sp=$!
kill -STOP $sp; st=$(awk '{print $3}' /proc/$sp/stat); kill -CONT $sp; kill -KILL $sp; wait $sp 2>/dev/null
[ "$st" = T ] && ok "SIGSTOP pause" || ko "SIGSTOP pause" "state $st"
lib=$(ls /usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1 /usr/lib/faketime/libfaketimeMT.so.1 2>/dev/null | head -1)
if [ -n "$lib" ]; then
    off=$(LD_PRELOAD=$lib FAKETIME="+300" FAKETIME_DONT_RESET=1 /usr/bin/python3 -c "import time;print(int(time.time()))")
    d=$(( off - $(date +%s) ))
    [ "$d" -ge 295 ] && [ "$d" -le 305 ] && ok "libfaketime offset (+${d} s)" || ko "libfaketime offset" "$d"
    echo "+0 x2" > "$TMP/skew"
    r=$(LD_PRELOAD=$lib FAKETIME_TIMESTAMP_FILE=$TMP/skew FAKETIME_CACHE_DURATION=1 /usr/bin/python3 -c "
import time
up=lambda: float(open('/proc/uptime').read().split()[0])
u=up();t=time.monotonic()
while up()-u<0.5: time.sleep(0.01)
print(round((time.monotonic()-t)/(up()-u),1))")
    [ "$r" = 2.0 ] && ok "libfaketime rate x2 via timestamp file" || ko "libfaketime rate" "x$r"
else
    ko "libfaketime installed"; ko "libfaketime rate"
fi
mkdir -p "$TMP/m"
if mount -t tmpfs -o size=1m rgjtmpfs "$TMP/m" 2>/dev/null; then
    dd if=/dev/zero of="$TMP/m/x" bs=64k count=40 2>"$TMP/dd.err"
    grep -q "No space left" "$TMP/dd.err" && ok "tmpfs balloon ENOSPC" || ko "tmpfs balloon ENOSPC"
    umount "$TMP/m"
else ko "tmpfs mount"; fi
t "cgroup freezer mounted" test -d /sys/fs/cgroup/freezer
t "ip netns pids lists node processes" sh -c "[ -n \"\$(ip netns pids ${P}n2)\" ]"
echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
