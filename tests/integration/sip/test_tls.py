"""SIP over TLS (issue 5): the tls: listener, its certificate (configured or
self-signed in the state dir), protocol versions, keep-alives, requests back
over the phone's own connection, and clients that stall or send garbage.

The TLS client is siplib's TCP client with its socket wrapped by Python's
ssl module; everything stays on loopback and every wait is bounded.
"""

import hashlib
import os
import re
import socket
import ssl
import stat
import subprocess
import time

import pytest

import siplib
from pbxlib import free_port
from siplib import UA, contacts_of, wait_for


class TlsClient(siplib.SipClient):
    """A SipClient whose TCP connection speaks TLS (no certificate checks)."""

    def __init__(self, server_port, ctx=None, **kw):
        super().__init__(server_port, "tcp", **kw)
        ctx = ctx or client_ctx()
        self.sock = ctx.wrap_socket(self.sock)  # handshakes within the socket timeout
        self.transport = "tls"

    def contact_uri(self, user):
        return f"sip:{user}@{self.host}:{self.port};transport=tls"

    def cert_der(self):
        return self.sock.getpeercert(binary_form=True)

    def version(self):
        return self.sock.version()


def client_ctx(min_v=None, max_v=None):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    if min_v:
        ctx.minimum_version = min_v
    if max_v:
        ctx.maximum_version = max_v
    return ctx


@pytest.fixture
def tls_pbx(pbx_factory):
    """tls_pbx(users=(), **sip): a PBX with udp, tcp and tls listeners, started.

    Its TLS port is p.tls_port. Returned not started when start=False.
    """

    def make(users=(), start=True, **sip):
        p = pbx_factory(sections={"sip": sip} if sip else None)
        p.tls_port = free_port()
        p.sections["sip"]["listen"] = [f"udp:127.0.0.1:{p.port}", f"tcp:127.0.0.1:{p.port}",
                                       f"tls:127.0.0.1:{p.tls_port}"]
        p.write_config()
        if not start:
            return p
        p.start()
        if users:
            siplib.add_users(p, users)
        return p

    return make


@pytest.fixture
def tls_client():
    made = []

    def make(p, **kw):
        c = TlsClient(p.tls_port, **kw)
        made.append(c)
        return c

    yield make
    for c in made:
        c.close()


def fingerprint(der):
    return hashlib.sha256(der).hexdigest()


# ---- REGISTER, OPTIONS, keep-alive ------------------------------------------------------


@pytest.mark.parametrize("alg", ["MD5", "SHA-256"])
def test_register_over_tls(tls_pbx, tls_client, alg):
    p = tls_pbx(users=["1001"], auth_algorithms=["SHA-256", "MD5"])
    c = tls_client(p)
    ua = UA(c, "1001", "s3cret", domain=p.domain)
    r = ua.register(alg=alg, expires=600)
    assert r is not None and r.status == 200, r and r.text()
    assert re.match(r"SIP/2.0/TLS ", r["Via"]), r["Via"]
    b = contacts_of(p, 1001)[0]
    assert b["source"] == f"tls:127.0.0.1:{c.port}"
    assert f"tls:127.0.0.1:{c.port}" in p.ok("sip show registrations")


def test_options_over_tls_answered(tls_pbx, tls_client):
    p = tls_pbx()
    c = tls_client(p)
    r = c.options()
    assert r is not None and r.status == 200


def test_crlf_ping_answered_with_pong(tls_pbx, tls_client):
    p = tls_pbx()
    c = tls_client(p)
    c.send(b"\r\n\r\n")
    assert c.read_raw(3) == b"\r\n", "no CRLF pong over TLS (RFC 5626 3.5.1)"
    # The connection still carries requests after the ping.
    r = c.options()
    assert r is not None and r.status == 200


def test_qualify_comes_back_over_the_tls_connection(tls_pbx, tls_client):
    p = tls_pbx(users=["1001"], qualify_interval=1)
    c = tls_client(p)  # answers OPTIONS with 200
    ua = UA(c, "1001", "s3cret", domain=p.domain)
    assert ua.register(expires=600).status == 200
    opt = c.wait_request("OPTIONS", 8)
    assert opt is not None, "no qualify OPTIONS over TLS within 8 s"
    assert opt.ruri == c.contact_uri("1001")
    assert re.match(r"SIP/2.0/TLS ", opt["Via"], re.I), opt["Via"]
    wait_for(lambda: contacts_of(p, 1001)[0]["status"] == "OK", 3, "status OK")


# ---- versions ---------------------------------------------------------------------------


@pytest.mark.parametrize("version", [ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3])
def test_tls_1_2_and_1_3_accepted(tls_pbx, tls_client, version):
    p = tls_pbx()
    c = tls_client(p, ctx=client_ctx(version, version))
    assert c.version() == {ssl.TLSVersion.TLSv1_2: "TLSv1.2",
                           ssl.TLSVersion.TLSv1_3: "TLSv1.3"}[version]
    r = c.options()
    assert r is not None and r.status == 200


@pytest.mark.filterwarnings("ignore:ssl.TLSVersion.TLSv1:DeprecationWarning")
def test_tls_1_1_refused(tls_pbx, tls_client):
    p = tls_pbx()
    ctx = client_ctx(ssl.TLSVersion.TLSv1, ssl.TLSVersion.TLSv1_1)
    # Let the client offer TLS 1.1 at all, so the refusal is the server's.
    ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
    with pytest.raises((ssl.SSLError, ConnectionError)):
        tls_client(p, ctx=ctx)
    wait_for(lambda: "TLS handshake with tls:127.0.0.1:" in p.log(), 5,
             "the failed handshake in the log")
    assert len(re.findall(r"TLS handshake with .* failed", p.log())) == 1, p.log()


# ---- clients that stall or talk nonsense ------------------------------------------------


def test_stalled_and_garbage_clients_do_not_block_others(tls_pbx, tls_client):
    p = tls_pbx(users=["1001"])
    stalled = socket.create_connection(("127.0.0.1", p.tls_port), timeout=3)
    garbage = socket.create_connection(("127.0.0.1", p.tls_port), timeout=3)
    half = socket.create_connection(("127.0.0.1", p.tls_port), timeout=3)
    try:
        # A ClientHello record header promising more than ever comes.
        half.sendall(b"\x16\x03\x01\x02\x00\x01")
        garbage.sendall(b"OPTIONS sip:x SIP/2.0\r\n\r\n")
        # Meanwhile a real phone registers.
        c = tls_client(p)
        ua = UA(c, "1001", "s3cret", domain=p.domain)
        assert ua.register(expires=600).status == 200
        # The garbage connection is closed at once, and logged once.
        garbage.settimeout(3)
        try:
            assert garbage.recv(4096) is not None
            assert garbage.recv(4096) == b""
        except ConnectionError:
            pass
        wait_for(lambda: re.search(r"TLS handshake with tls:127\.0\.0\.1:\d+ failed", p.log()),
                 3, "the failed handshake logged")
        # The two that never finish are closed after 10 s, with their address.
        for s in (stalled, half):
            s.settimeout(14)
            try:
                assert s.recv(4096) == b""
            except ConnectionError:
                pass
        port = stalled.getsockname()[1]
        assert f"TLS handshake with tls:127.0.0.1:{port} timed out" in p.log()
        # Still serving.
        assert c.options().status == 200
    finally:
        for s in (stalled, garbage, half):
            s.close()


# ---- certificates -----------------------------------------------------------------------


def test_self_signed_certificate_made_and_reused(tls_pbx, tls_client):
    p = tls_pbx()
    crt = p.state_dir / "tls" / "pbx.pem"
    key = p.state_dir / "tls" / "pbx.key"
    assert crt.exists() and key.exists()
    assert stat.S_IMODE(os.stat(key).st_mode) == 0o600
    assert f"no sip.tls configured: using a self-signed certificate {crt}" in p.log()
    der = tls_client(p).cert_der()
    assert der == ssl.PEM_cert_to_DER_cert(crt.read_text())
    p.stop()
    p.start()
    assert fingerprint(tls_client(p).cert_der()) == fingerprint(der)


def make_pair(tmp_path, name="test"):
    crt, key = tmp_path / f"{name}.pem", tmp_path / f"{name}.key"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:P-256", "-nodes", "-subj", f"/CN={name}", "-days", "1",
                    "-keyout", str(key), "-out", str(crt)],
                   check=True, capture_output=True, timeout=30)
    return crt, key


def test_configured_certificate_is_used(tls_pbx, tls_client, tmp_path):
    crt, key = make_pair(tmp_path)
    p = tls_pbx(tls={"cert": str(crt), "key": str(key)})
    der = tls_client(p).cert_der()
    assert der == ssl.PEM_cert_to_DER_cert(crt.read_text())
    assert not (p.state_dir / "tls").exists()
    assert "self-signed" not in p.log()


@pytest.mark.parametrize("what", ["missing cert", "missing key", "mismatched"])
def test_bad_configured_pair_fails_start_naming_the_file(tls_pbx, tmp_path, what):
    crt, key = make_pair(tmp_path)
    _, other_key = make_pair(tmp_path, "other")
    if what == "missing cert":
        crt, named = tmp_path / "nope.pem", tmp_path / "nope.pem"
    elif what == "missing key":
        key, named = tmp_path / "nope.key", tmp_path / "nope.key"
    else:
        key, named = other_key, other_key
    p = tls_pbx(start=False, tls={"cert": str(crt), "key": str(key)})
    cp = p.run("-f", "-c", str(p.cfg_path), timeout=20)
    assert cp.returncode != 0
    assert str(named) in cp.stderr, cp.stderr
    assert not p.sock_path.exists()


def test_sips_contact_registered_over_tls(tls_pbx, tls_client):
    p = tls_pbx(users=["1001"], qualify_interval=1)
    c = tls_client(p)
    ua = UA(c, "1001", "s3cret", domain=p.domain)
    ua.ruri = f"sips:{p.domain}"
    contact = f"<sips:1001@127.0.0.1:{c.port}>"
    r = ua.register(contact=contact, expires=600)
    assert r is not None and r.status == 200, r and r.text()
    assert contacts_of(p, 1001)[0]["source"] == f"tls:127.0.0.1:{c.port}"
    opt = c.wait_request("OPTIONS", 8)
    assert opt is not None, "no qualify OPTIONS over TLS to a sips: contact"
    assert opt.ruri == f"sips:1001@127.0.0.1:{c.port}"
