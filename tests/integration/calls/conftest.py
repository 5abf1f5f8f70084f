"""Fixtures for the call tests: a PBX with a test dialplan and users, and
raw SIP phones (callib.Phone) closed at teardown.

The PBX comes from the parent conftest (pbx_factory); the raw SIP code
and add_users from ../sip/siplib.py (callib puts that folder on sys.path,
since this folder's conftest may be loaded before ../sip's).

The SRTP tests with baresip (test_srtp_e2e.py, test_srtp_reoffer.py) share
srtp_pbx, phones and capture.

Every PBX here offers the default digest, MD5 alone: SIPp 3.6 and
baresip 1.0 compute nothing else (see ../sip/test_sipp.py and
../sip/test_baresip.py). Qualify is off: most SIPp scenarios here have no
step for the PBX's OPTIONS (test_shipped_defaults.py runs with it on).
"""

import random

import pytest

import callib  # (puts ../sip on sys.path before siplib is imported)
import siplib
from callib import DIALPLAN, PASSWORD, write_wav
from pbxlib import free_port
from srtplib import TONE_AMPLITUDE, Capture, SrtpBaresip

USERS = ("1001", "1002", "1003", "1004", "1005")


@pytest.fixture
def call_pbx(pbx_factory):
    """call_pbx(dialplan=DIALPLAN, users=USERS, rtp=None, pbx=None, **sip): a started PBX.

    The dialplan is written beside the config; `rtp` is merged into the
    rtp section (e.g. {"timeout": 2}), `pbx` into the pbx section. Returns the Pbx, with `.dialplan`
    set to the dialplan file's path.
    """

    def start(dialplan=DIALPLAN, users=USERS, rtp=None, pbx=None, **sip):
        sipcfg = {"qualify_interval": 0}
        sipcfg.update(sip)
        rtpcfg = {"port_min": 20000, "port_max": 24999}
        rtpcfg.update(rtp or {})
        p = pbx_factory(sections={"sip": sipcfg, "rtp": rtpcfg, "pbx": pbx or {}})
        p.dialplan = p.dir / "extensions.lua"
        p.dialplan.write_text(dialplan)
        p.sections["dialplan"] = {"file": str(p.dialplan)}
        p.write_config()
        p.start()
        siplib.wait_answering(p)
        if users:
            siplib.add_users(p, users, PASSWORD)
        return p

    return start


@pytest.fixture
def shipped_pbx(pbx_factory):
    """shipped_pbx(users=("1001", "1002"), dialplan=None, extra=""): a started PBX on
    the shipped config (test_shipped_defaults.start_shipped)."""
    from test_shipped_defaults import start_shipped

    def start(**kw):
        return start_shipped(pbx_factory, **kw)

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


SRTP_USERS = ("1001", "1002")


@pytest.fixture
def srtp_pbx(pbx_factory):
    """srtp_pbx(policies={ext: policy}, tls=True, qualify=False): a started PBX with
    users 1001 and 1002 and a private RTP range (p.rtp_range); each phone gets a range
    of its own next to it: p.phone_ranges[0], [1]. With @tls it listens on tls too
    (p.tls_port). Without @qualify the PBX does not send OPTIONS (sip.qualify_interval
    0); with it, that key is left at its default, as are the users' SRTP policies
    unless @policies says otherwise."""

    def start(policies=None, tls=True, qualify=False):
        base = random.randrange(25000, 32000, 100)  # below the ephemeral ports
        sip = {} if qualify else {"qualify_interval": 0}
        p = pbx_factory(sections={"sip": sip,
                                  "rtp": {"port_min": base, "port_max": base + 39}})
        p.rtp_range = (base, base + 39)
        p.phone_ranges = [(base + 40, base + 59), (base + 60, base + 79)]
        p.capture_range = (base, base + 79)
        if tls:
            p.tls_port = free_port()
            p.sections["sip"]["listen"] = [f"udp:127.0.0.1:{p.port}",
                                           f"tcp:127.0.0.1:{p.port}",
                                           f"tls:127.0.0.1:{p.tls_port}"]
        p.dialplan = p.dir / "extensions.lua"
        p.dialplan.write_text(DIALPLAN)
        p.sections["dialplan"] = {"file": str(p.dialplan)}
        p.write_config()
        p.start()
        siplib.wait_answering(p)
        siplib.add_users(p, SRTP_USERS, PASSWORD)
        for ext, pol in (policies or {}).items():
            p.ok(f"user set {ext} srtp {pol}")
        return p

    return start


@pytest.fixture
def phones(tmp_path):
    """phones(pbx, ext, freq, transport, mediaenc, idx, answermode): a started SrtpBaresip
    playing @freq, on RTP ports pbx.phone_ranges[idx]."""
    made = []

    def make(p, ext, freq, transport, mediaenc, idx, answermode="manual"):
        wav = tmp_path / f"tone-{ext}.wav"
        write_wav(wav, callib.tone(freq, 15, amplitude=TONE_AMPLITUDE))
        b = SrtpBaresip(tmp_path, p, ext, wav, "PCMU", transport=transport, mediaenc=mediaenc,
                        rtp_ports=p.phone_ranges[idx], answermode=answermode)
        made.append(b)
        return b.start()

    yield make
    for b in made:
        b.stop()


@pytest.fixture
def capture(tmp_path):
    """capture(pbx): a dumpcap of lo over the PBX's and both phones' RTP ports."""
    made = []

    def make(p):
        lo, hi = p.capture_range
        c = Capture(tmp_path, f"udp portrange {lo}-{hi}")
        made.append(c)
        return c

    yield make
    for c in made:
        c.stop()


@pytest.fixture
def baresips():
    """baresips(workdir, pbx, user, source_wav, codec, ...): a started callib.Baresip,
    stopped at teardown."""
    made = []

    def make(*args, **kw):
        b = callib.Baresip(*args, **kw)
        made.append(b)
        return b.start()

    yield make
    for b in made:
        b.stop()
