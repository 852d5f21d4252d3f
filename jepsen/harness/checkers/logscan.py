"""Always-on log scan (docs/fault-injection.md 4.4): RG-ASSERT markers, sanitizer
reports, raft corruption messages in the node logs, and core files in the
node directories.  Valid iff none (unless listed in @expected)."""

import os
import re

PATTERNS = [
    ('assert', re.compile(r'RG-ASSERT')),
    ('asan', re.compile(r'ERROR: AddressSanitizer|==\d+==ERROR:')),
    ('lsan', re.compile(r'ERROR: LeakSanitizer')),
    ('ubsan', re.compile(r'runtime error: ')),
    ('tsan', re.compile(r'WARNING: ThreadSanitizer')),
    ('corrupt', re.compile(r'raft.*corrupt', re.IGNORECASE)),
    ('abort', re.compile(r'Assertion .* failed|SIGSEGV|Segmentation fault')),
]
CORE = re.compile(r'^core(\.\d+)?$|\.core$')


def scan_text(lines, expected=()):
    """[(kind, line number, line)] of the matches in @lines."""
    out = []
    for k, line in enumerate(lines, 1):
        for kind, rx in PATTERNS:
            if kind in expected:
                continue
            if rx.search(line):
                out.append((kind, k, line.rstrip('\n')[:300]))
                break
    return out


def find_cores(dirs):
    cores = []
    for d in dirs:
        for root, _, files in os.walk(d):
            for f in files:
                if CORE.search(f):
                    cores.append(os.path.join(root, f))
    return sorted(cores)


def check(logs, dirs=(), expected=(), name='logscan'):
    """@logs: {node: path}; @dirs: directories searched for cores."""
    hits = []
    scanned = 0
    for node, path in sorted(logs.items()):
        try:
            with open(path, errors='replace') as fh:
                lines = fh.readlines()
        except OSError:
            continue
        scanned += 1
        for kind, ln, text in scan_text(lines, expected):
            hits.append({'node': node, 'kind': kind, 'line': ln,
                         'text': text, 'log': path})
    cores = find_cores(dirs)
    kinds = {}
    for h in hits:
        kinds[h['kind']] = kinds.get(h['kind'], 0) + 1
    summary = '%d logs scanned: %s; %d cores' % (
        scanned, ', '.join('%s %d' % kv for kv in sorted(kinds.items()))
        or 'no markers', len(cores))
    bad = hits or cores
    verdict = 'FAIL' if bad else ('PASS' if scanned else 'UNKNOWN')
    return {'name': name, 'verdict': verdict, 'summary': summary,
            'witness': {'hits': hits[:20], 'cores': cores[:10]}
            if bad else None}
