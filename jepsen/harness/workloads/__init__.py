"""Workloads (docs/fault-injection.md 4.4): the harness calls setup(ctx), run(ctx, stop),
final(ctx) and check(ctx, history) -> [result dict].  quota, breaker and
proxy-consul detect their feature in setup() and report SKIPPED (with the
reason) on a binary without it."""

from harness.workloads.register import Register
from harness.workloads.durable import Durable
from harness.workloads.proxy import Proxy, ProxyConsul
from harness.workloads.quota import Quota
from harness.workloads.breaker import Breaker

WORKLOADS = {'register': Register, 'durable': Durable, 'proxy': Proxy,
             'quota': Quota, 'breaker': Breaker,
             'proxy-consul': ProxyConsul}
