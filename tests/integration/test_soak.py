"""A two-minute soak (tests/soak/soak.py, `make soak` runs it for 30): REGISTER
refreshes for 2,000 users, calls with RTP and MESSAGEs at once against the
binary under test; it passes when nothing failed, VmRSS grows by less than
a bound in the second minute (see below), the fds and channels come back to
their idle counts and the PBX exits cleanly (under ASan: no leak).

Rates: 100 REGISTER/s, 5 calls/s (2 s of RTP each: 10 calls up) and 20
MESSAGE/s: the ASan build spends about 8 % of a core on them, so that a
machine busy with other work still passes.

RSS slope: the optimised build is flat from about 35 s into this load
(the transactions of the first 32 s all alive, every user registered
once): 26.2 MB from 34 s to 180 s. The ASan build with a quarantine is not:
freed memory waits in it (256 MB by default, filling for minutes) before
it is reused, and even bounded at 4 MB VmRSS crept on through the second
minute, +2.4 to +8.0 MB per 10 min in five runs (most likely reused chunks
spreading over pages not touched before; not analysed further). Without a
quarantine (quarantine_size_mb=0) a freed chunk is reused at once, as with
glibc, and VmRSS is flat after the first minute: -0.65, -0.09, +0.07 and
+0.07 MB per 10 min in four runs (one of them beside another engineer's
integration tests). So this test runs without it: ASan still finds
overflows, and use of freed memory until the chunk is reused; the other
integration tests keep the full quarantine; and memory lost outright is
LeakSanitizer's to report at exit (the soak's exit check). The slope limit
is 2 MB per 10 min, not `make soak`'s 1: over one minute, VmRSS noise of
+-0.3 MB moves the slope by about 1; 2 still fails on reachable growth of
more than about 30 bytes per request at these rates. A sample every 2 s
(30 in the minute measured) keeps one sample from deciding the slope.
"""

import subprocess
import sys

import pytest

from pbxlib import PBX_BIN, REPO, sanitizer_env

SOAK = REPO / "tests" / "soak" / "soak.py"


def test_soak_two_minutes(tmp_path):
    cmd = [sys.executable, str(SOAK), "--pbx", PBX_BIN, "--minutes", "2", "--rate", "100",
           "--sample-seconds", "2", "--slope-limit", "2", "--no-pin",
           "--out-dir", str(tmp_path)]
    try:
        cp = subprocess.run(cmd, cwd=REPO, env=sanitizer_env(":quarantine_size_mb=0"),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            timeout=420)
    except subprocess.TimeoutExpired as e:
        pytest.fail(f"soak.py did not end within 420 s:\n{(e.stdout or b'')[-4000:]}")
    assert cp.returncode == 0, f"soak failed (exit status {cp.returncode}):\n{cp.stdout[-6000:]}"
    assert "soak: PASSED" in cp.stdout
    assert (tmp_path / "soak.csv").exists()
