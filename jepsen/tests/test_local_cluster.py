"""Opt-in: the workloads and checkers against a real local cluster on
loopback (no root): RAFTGATE_BIN=/path/to/raftgate.  Skipped otherwise."""

import os
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                '..'))


@unittest.skipUnless(os.environ.get('RAFTGATE_BIN'), 'RAFTGATE_BIN not set')
class LocalCluster(unittest.TestCase):
    def test_workloads_pass_without_faults(self):
        from harness import localctx
        with tempfile.TemporaryDirectory(prefix='rgj-test-') as d:
            rc = localctx.main(['--raftgate', os.environ['RAFTGATE_BIN'],
                                '--seconds', '8', '--dir', d])
            self.assertEqual(rc, 0)


if __name__ == '__main__':
    unittest.main()
