#!/usr/bin/python3
"""cluster/install-deps and cluster/quickstart with apt-get, id and the
build tools replaced by stand-ins on PATH and the apt configuration in a
temp dir (RAFTGATE_APT_ETC): bookworm-backports is added to a fresh
Debian 12 machine's own sources entry (deb822 or one-line), once; an
apt-get update that could not fetch an index stops both scripts with a
message and installs nothing. No real package manager is ever called."""

import os
import shutil
import stat
import subprocess
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.environ.get("RAFTGATE_SRCDIR", os.path.join(HERE, "..", ".."))

# /etc/apt/sources.list.d/debian.sources of the debian:12 image.
DEB822 = """\
Types: deb
URIs: http://deb.debian.org/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://deb.debian.org/debian-security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
"""

# /etc/apt/sources.list as the Debian 12 installer writes it.
ONE_LINE = """\
deb http://deb.debian.org/debian/ bookworm main non-free-firmware
deb-src http://deb.debian.org/debian/ bookworm main non-free-firmware
deb http://security.debian.org/debian-security bookworm-security main non-free-firmware
deb http://deb.debian.org/debian/ bookworm-updates main non-free-firmware
"""

# Like the real apt-get: an index that cannot be fetched is a warning and
# exit 0, unless --error-on=any (then 100). Every call is logged.
FAKE_APT = """\
#!/bin/sh
echo "$*" >> "$FAKE_LOG"
case " $* " in
*" update "*)
    if [ "${FAKE_FETCH_FAILS:-0}" = 1 ]; then
        echo "W: Failed to fetch http://deb.debian.org/debian/dists/bookworm/InRelease" >&2
        case " $* " in *" --error-on=any "*)
            echo "E: Some index files failed to download." >&2; exit 100;;
        esac
        echo "W: Some index files failed to download. They have been ignored, or old ones used instead." >&2
    fi;;
esac
exit 0
"""

FAKES = {
    "apt-get": FAKE_APT,
    "id": "#!/bin/sh\necho 0\n",
    "pkg-config": "#!/bin/sh\necho 0.22.1\n",
    # quickstart's build steps: logged, and failing, so that a quickstart
    # that carried on would stop there and build nothing.
    "autoreconf": "#!/bin/sh\necho \"autoreconf $*\" >> \"$FAKE_LOG\"\n"
                  "exit 1\n",
    "make": "#!/bin/sh\necho \"make $*\" >> \"$FAKE_LOG\"\nexit 1\n",
}


class InstallDepsTest(unittest.TestCase):

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="rgtest-deps-")
        self.addCleanup(shutil.rmtree, self.dir, True)
        self.bin = os.path.join(self.dir, "bin")
        self.etc = os.path.join(self.dir, "etc-apt")
        self.top = os.path.join(self.dir, "top")
        self.log = os.path.join(self.dir, "calls.log")
        os.makedirs(os.path.join(self.etc, "sources.list.d"))
        os.makedirs(os.path.join(self.top, "cluster"))
        os.makedirs(self.bin)
        for name, text in FAKES.items():
            self._write(os.path.join(self.bin, name), text, 0o755)
        # Copies, so that `top` (and build/) is the temp dir, never the tree.
        for name in ("install-deps", "quickstart"):
            shutil.copy(os.path.join(SRC, "cluster", name),
                        os.path.join(self.top, "cluster", name))

    def _write(self, path, text, mode=0o644):
        with open(path, "w") as f:
            f.write(text)
        os.chmod(path, mode)

    def _read(self, path):
        try:
            with open(path) as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def run_script(self, name, fetch_fails=False):
        env = dict(os.environ, PATH=self.bin + ":/usr/bin:/bin",
                   RAFTGATE_APT_ETC=self.etc, FAKE_LOG=self.log,
                   FAKE_FETCH_FAILS="1" if fetch_fails else "0")
        env.pop("SKIP_INSTALL", None)
        return subprocess.run([os.path.join(self.top, "cluster", name)],
                              env=env, capture_output=True, text=True,
                              timeout=60)

    def calls(self):
        return self._read(self.log).splitlines()

    def test_deb822_backports_added_once(self):
        """A debian:12 image: the suite joins the Suites line of the main
        entry only, and a second run leaves the file as it is."""
        path = os.path.join(self.etc, "sources.list.d", "debian.sources")
        self._write(path, DEB822)
        r = self.run_script("install-deps")
        self.assertEqual(r.returncode, 0, r.stderr)
        want = DEB822.replace("Suites: bookworm bookworm-updates\n",
                              "Suites: bookworm bookworm-updates "
                              "bookworm-backports\n")
        self.assertEqual(self._read(path), want)
        self.assertIn("libraft 0.22.1", r.stdout)
        installs = [c for c in self.calls() if " install " in " %s " % c]
        self.assertTrue(any("-t bookworm-backports" in c for c in installs),
                        self.calls())
        r = self.run_script("install-deps")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(self._read(path), want)

    def test_one_line_backports_added(self):
        """An installed Debian 12 (one-line sources.list): the main line is
        copied with the suite renamed."""
        path = os.path.join(self.etc, "sources.list")
        self._write(path, ONE_LINE)
        r = self.run_script("install-deps")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(self._read(path), ONE_LINE +
                         "deb http://deb.debian.org/debian/ "
                         "bookworm-backports main non-free-firmware\n")

    def test_failed_update_stops_install_deps(self):
        """apt-get update could not fetch an index: install-deps says so
        and exits non-zero, and nothing is installed."""
        self._write(os.path.join(self.etc, "sources.list.d",
                                 "debian.sources"), DEB822)
        r = self.run_script("install-deps", fetch_fails=True)
        self.assertNotEqual(r.returncode, 0, r.stdout)
        self.assertIn("install-deps: apt-get update failed", r.stderr)
        self.assertEqual([c for c in self.calls() if "install" in c], [],
                         self.calls())

    def test_failed_update_stops_quickstart(self):
        """The same from cluster/quickstart: it stops with its own line
        and never reaches the build."""
        self._write(os.path.join(self.etc, "sources.list.d",
                                 "debian.sources"), DEB822)
        r = self.run_script("quickstart", fetch_fails=True)
        self.assertEqual(r.returncode, 1, r.stdout)
        self.assertIn("install-deps: apt-get update failed", r.stderr)
        self.assertIn("quickstart: installing the packages failed", r.stderr)
        self.assertEqual([c for c in self.calls()
                          if "install" in c or c.startswith(("make",
                                                             "autoreconf"))],
                         [], self.calls())


if __name__ == "__main__":
    unittest.main()
