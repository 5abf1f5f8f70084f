"""Fixtures for the SIP integration tests.

The PBX itself comes from the parent conftest (`pbx_factory`, class Pbx):
these fixtures only start it with SIP settings, make users, and hand out
raw SIP clients (siplib.SipClient) that are closed at teardown. The raw
client and the digest helpers live in siplib.py beside this file, so test
modules can import them (a second module named "conftest" could not be).
"""

import pytest

import siplib


@pytest.fixture
def sip_pbx(pbx_factory):
    """Start a PBX with @sip settings merged into the defaults; returns it running.

    The SIP listeners are checked to answer OPTIONS over UDP before the
    PBX is handed out.
    """

    def start(users=(), password="s3cret", **sip):
        p = pbx_factory(sections={"sip": sip} if sip else None)
        p.start()
        siplib.wait_answering(p)
        if users:
            siplib.add_users(p, users, password)
        return p

    return start


@pytest.fixture
def sip_client():
    """Make raw SIP clients: sip_client(pbx, "udp"|"tcp", **kw); closed at teardown."""
    made = []

    def make(p, transport="udp", **kw):
        c = siplib.SipClient(p.port, transport, **kw)
        made.append(c)
        return c

    yield make
    for c in made:
        c.close()


@pytest.fixture
def users():
    """users(pbx, exts, password="s3cret"): create users over the console socket."""
    return siplib.add_users
