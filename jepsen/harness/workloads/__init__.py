"""Workloads (docs/fault-injection.md 4.4): the harness calls setup(ctx), run(ctx, stop),
final(ctx) and check(ctx, history) -> [result dict]."""

from harness.workloads.register import Register
from harness.workloads.durable import Durable
from harness.workloads.proxy import Proxy

WORKLOADS = {'register': Register, 'durable': Durable, 'proxy': Proxy}
