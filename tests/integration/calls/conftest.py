"""Fixtures for the call tests: a PBX with a test dialplan and users, and
raw SIP phones (callib.Phone) closed at teardown.

The PBX comes from the parent conftest (pbx_factory); the raw SIP code
and add_users from ../sip/siplib.py (callib puts that folder on sys.path,
since this folder's conftest may be loaded before ../sip's).

Every PBX here offers the default digest, MD5 alone: SIPp 3.6 and
baresip 1.0 compute nothing else (see ../sip/test_sipp.py and
../sip/test_baresip.py). Qualify is off: most SIPp scenarios here have no
step for the PBX's OPTIONS (test_shipped_defaults.py runs with it on).
"""

import pytest

import callib  # (puts ../sip on sys.path before siplib is imported)
import siplib
from callib import DIALPLAN, PASSWORD

USERS = ("1001", "1002", "1003", "1004", "1005")


@pytest.fixture
def call_pbx(pbx_factory):
    """call_pbx(dialplan=DIALPLAN, users=USERS, rtp=None, **sip): a started PBX.

    The dialplan is written beside the config; `rtp` is merged into the
    rtp section (e.g. {"timeout": 2}). Returns the Pbx, with `.dialplan`
    set to the dialplan file's path.
    """

    def start(dialplan=DIALPLAN, users=USERS, rtp=None, **sip):
        sipcfg = {"qualify_interval": 0}
        sipcfg.update(sip)
        rtpcfg = {"port_min": 20000, "port_max": 24999}
        rtpcfg.update(rtp or {})
        p = pbx_factory(sections={"sip": sipcfg, "rtp": rtpcfg})
        p.dialplan = p.dir / "extensions.lua"
        p.dialplan.write_text(dialplan)
        p.sections["dialplan"] = {"file": str(p.dialplan)}
        p.write_config()
        p.start()
        c = siplib.SipClient(p.port, "udp")
        try:
            siplib.wait_for(lambda: (lambda r: r is not None and r.status == 200)(
                c.options()), 10, "the PBX to answer OPTIONS")
        finally:
            c.close()
        if users:
            siplib.add_users(p, users, PASSWORD)
        return p

    return start


@pytest.fixture
def users():
    """users(pbx, exts, password="s3cret"): as in ../sip/conftest.py."""
    return siplib.add_users


@pytest.fixture
def phone():
    """phone(pbx, ext, register=True): a raw SIP phone, closed at teardown."""
    made = []

    def make(p, ext, register=True, name=None):
        ph = callib.Phone(p, ext, PASSWORD, name=name)
        made.append(ph)
        if register:
            ph.register()
        return ph

    yield make
    for ph in made:
        ph.close()
