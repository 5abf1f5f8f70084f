"""Fixtures for integration tests (helpers in pbxlib.py).

`pbx_factory` makes PBX instances on fresh state directories and free
loopback ports; `pbx` is one already started. At teardown each is stopped
with SIGTERM, and a non-zero exit status or a sanitizer report on its
stderr fails the test: that is how "no leaks at exit" is enforced.
"""

import os

import pytest

from pbxlib import PBX_BIN, Pbx


@pytest.fixture
def pbx_factory(tmp_path_factory):
    """Make PBX instances (not started); each is stopped and checked at teardown.

    A short base directory keeps the console socket path well under the
    108 bytes a unix socket address allows.
    """
    if not os.access(PBX_BIN, os.X_OK):
        pytest.fail(f"{PBX_BIN} is not built (make build/asan/pbx), or set PBX_BIN")
    made = []

    def make(**kw):
        p = Pbx(tmp_path_factory.mktemp("p"), **kw)
        made.append(p)
        return p

    yield make
    errors = []
    for p in made:
        try:
            p.stop()
        except BaseException as e:  # pytest.fail raises a BaseException
            errors.append(str(e))
            p.kill()
    if errors:
        pytest.fail("\n".join(errors))


@pytest.fixture
def pbx(pbx_factory):
    """A started PBX (foreground child) on a fresh state directory."""
    return pbx_factory().start()
