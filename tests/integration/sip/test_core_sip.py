"""Core SIP behaviour of the stack against the real binary, over raw sockets:
OPTIONS, unknown and unhandled methods, Require, Max-Forwards, size limits,
malformed requests, retransmissions, Via rport/received, TCP framing,
keep-alives, and `sip set debug`."""

import json
import re
import socket
import time

import pytest

from siplib import (UA, SipClient, SipMsg, authorization, build_request, challenge_for,
                    challenges, registrations, split_stream, token, wait_for)

TRANSPORTS = ["udp", "tcp"]


def methods(allow):
    return [m.strip() for m in allow.split(",") if m.strip()]


def send_raw(c, text):
    """Send @text (str, LF line ends turned into CRLF); the final response to it."""
    data = text.replace("\r\n", "\n").replace("\n", "\r\n").encode() if isinstance(text, str) \
        else text
    c.send(data)
    return c.response()


def req_text(c, method="OPTIONS", ruri=None, cseq=None, call_id=None, extra="", drop=(),
             version="SIP/2.0", max_forwards="70"):
    """A request as text, easy to break: @drop names headers to leave out."""
    call_id = call_id or token()
    lines = [
        f"{method} {ruri or 'sip:test.local'} {version}",
        f"Via: SIP/2.0/{c.tp} 127.0.0.1:{c.port};branch=z9hG4bK{token(6)};rport",
        f"Max-Forwards: {max_forwards}",
        f"From: <sip:probe@test.local>;tag={token(4)}",
        "To: <sip:test.local>",
        f"Call-ID: {call_id}",
        f"CSeq: {cseq or '1 ' + method}",
    ]
    lines = [ln for ln in lines if ln.split(":")[0] not in drop]
    if extra:
        lines.extend(extra.strip("\n").split("\n"))
    lines.append("Content-Length: 0")
    return "\n".join(lines) + "\n\n"


# ---- OPTIONS and methods ---------------------------------------------------------------------


@pytest.mark.parametrize("tp", TRANSPORTS)
def test_options_answered_200_with_allow_accept_supported(sip_pbx, sip_client, tp):
    p = sip_pbx()
    c = sip_client(p, tp)
    cid = token()
    sent = SipMsg(c.request("OPTIONS", call_id=cid, cseq=7))
    r = c.response(cid)
    assert r is not None and r.status == 200 and r.reason == "OK", r
    allow = methods(r["Allow"])
    for m in ("OPTIONS", "REGISTER", "ACK", "CANCEL"):
        assert m in allow, allow
    assert len(set(allow)) == len(allow), "a method listed twice in Allow"
    assert "application/sdp" in r["Accept"]
    assert r.get("Supported") is not None
    # The response echoes the request's identity (RFC 3261 8.2.6.2).
    assert r.cseq == (7, "OPTIONS")
    assert r["From"] == sent["From"]
    assert r["To"].startswith(sent["To"] + ";tag=")
    assert r["Via"].startswith(f"SIP/2.0/{tp.upper()} 127.0.0.1:{c.port};branch=")


def test_every_method_in_allow_is_actually_handled(sip_pbx, sip_client):
    p = sip_pbx()
    c = sip_client(p, "udp")
    allow = methods(c.options()["Allow"])
    for m in allow:
        if m in ("ACK", "CANCEL", "INVITE"):
            continue  # no response of their own / need a dialog
        r = send_raw(c, req_text(c, m, ruri="sip:1001@test.local"))
        assert r is not None, f"{m}: no answer"
        assert r.status not in (405, 501), f"{m} is in Allow but got {r.status}"


def test_unknown_method_gets_501_with_allow(sip_pbx, sip_client):
    p = sip_pbx()
    c = sip_client(p, "udp")
    allow = c.options()["Allow"]
    r = send_raw(c, req_text(c, "FOO"))
    assert r.status == 501, r.text()
    assert r.cseq == (1, "FOO")
    assert methods(r["Allow"]) == methods(allow)


# Methods the PBX knows but does not serve yet (INFO, UPDATE and PUBLISH are handled
# now); move a method out of this list when it gets a handler.
@pytest.mark.parametrize("method", ["PRACK"])
def test_known_but_unhandled_method_gets_405_with_allow(sip_pbx, sip_client, method):
    p = sip_pbx()
    c = sip_client(p, "udp")
    allow = methods(c.options()["Allow"])
    assert method not in allow
    r = send_raw(c, req_text(c, method, ruri="sip:1001@test.local"))
    assert r.status == 405, r.text()
    assert methods(r["Allow"]) == allow


@pytest.mark.parametrize("tp", TRANSPORTS)
def test_require_unknown_option_gets_420_with_unsupported(sip_pbx, sip_client, tp):
    p = sip_pbx()
    c = sip_client(p, tp)
    r = send_raw(c, req_text(c, extra="Require: foo"))
    assert r.status == 420, r.text()
    assert r["Unsupported"] == "foo"
    # Only the tags we lack are named; "path" is supported.
    r = send_raw(c, req_text(c, extra="Require: path, foo\nRequire: bar"))
    assert r.status == 420
    assert [t.strip() for t in r["Unsupported"].split(",")] == ["foo", "bar"]
    r = send_raw(c, req_text(c, extra="Require: path"))
    assert r.status == 200, r.text()


def test_max_forwards_zero_gets_483(sip_pbx, sip_client):
    p = sip_pbx()
    c = sip_client(p, "udp")
    r = send_raw(c, req_text(c, "MESSAGE", ruri="sip:1001@test.local", max_forwards="0"))
    assert r.status == 483, r.text()
    r = send_raw(c, req_text(c, "REGISTER", max_forwards="0"))
    assert r.status == 483, "REGISTER with Max-Forwards 0 was not refused before auth"
    r = send_raw(c, req_text(c, "REGISTER", max_forwards="1"))
    assert r.status == 401


def test_message_larger_than_max_message_size_gets_513(sip_pbx, sip_client):
    p = sip_pbx(max_message_size=2000)
    c = sip_client(p, "udp")
    big = req_text(c, extra="X-Pad: " + "a" * 3000)
    assert len(big) > 3000
    r = send_raw(c, big)
    assert r is not None and r.status == 513, r
    small = req_text(c, extra="X-Pad: " + "a" * 1500)
    assert 1500 < len(small) < 2000
    assert send_raw(c, small).status == 200


def test_message_too_large_over_tcp_closes_the_connection(sip_pbx, sip_client):
    p = sip_pbx(max_message_size=2000)
    c = sip_client(p, "tcp")
    c.send(req_text(c, extra="X-Pad: " + "a" * 5000).replace("\n", "\r\n"))
    r = c.recv(3)
    assert r is None or r.status == 513
    wait_for(lambda: c.recv(0.2) is None and c.closed, 5,
             "the PBX to drop a connection that sent an oversized message")
    c2 = sip_client(p, "tcp")
    assert c2.options().status == 200


# ---- malformed requests -----------------------------------------------------------------------


@pytest.mark.parametrize("tp", TRANSPORTS)
@pytest.mark.parametrize("case,text_args,phrase", [
    ("dup-call-id", dict(extra="Call-ID: second"), "Call-ID"),
    ("call-id-space", dict(call_id="has space"), "Call-ID"),
    ("cseq-not-number", dict(cseq="abc OPTIONS"), "CSeq"),
    ("cseq-too-big", dict(cseq="2147483648 OPTIONS"), "CSeq"),
    ("cseq-method-mismatch", dict(cseq="1 INVITE"), "CSeq"),
    ("dup-from", dict(extra="From: <sip:x@test.local>;tag=2"), "From"),
    ("bad-content-length", dict(extra="Content-Length: x"), "Content-Length"),
])
def test_malformed_request_gets_400_naming_the_fault(sip_pbx, sip_client, tp, case, text_args,
                                                     phrase):
    p = sip_pbx()
    c = sip_client(p, tp)
    text = req_text(c, **text_args)
    if case == "bad-content-length":
        text = text.replace("Content-Length: 0\n", "")
        if tp == "tcp":
            # No framing without a Content-Length: the stream cannot go on.
            c.send(text.replace("\n", "\r\n"))
            wait_for(lambda: c.recv(0.2) is None and c.closed, 5,
                     "the PBX to close a stream it cannot frame")
            assert sip_client(p, "tcp").options().status == 200
            return
    r = send_raw(c, text)
    assert r is not None, "no answer"
    assert r.status == 400, r.text()
    assert phrase in r.reason, f"reason {r.reason!r} does not name {phrase}"
    assert c.options().status == 200


@pytest.mark.parametrize("missing", ["Call-ID", "From", "To"])
def test_missing_mandatory_header_gets_400_naming_it(sip_pbx, sip_client, missing):
    """RFC 4475 3.1.2.18: "Ideally, it will respond with a 400 Bad Request";
    the branch and CSeq still let the client match the answer (RFC 3261
    17.1.3), and the stack's reason phrase names the missing header."""
    p = sip_pbx()
    c = sip_client(p, "udp")
    r = send_raw(c, req_text(c, drop=(missing,)))
    assert r is not None, f"no answer to a request without {missing}"
    assert r.status == 400 and missing in r.reason, r.text()
    assert c.options().status == 200


def test_malformed_header_line_gets_400_naming_it(sip_pbx, sip_client):
    """A header line without a colon, after every mandatory header: the
    request can be answered, and RFC 3261 21.4.1 wants the reason phrase to
    name the problem. (SIPp 3.6 sends exactly such a line when a keyword is
    nested inside [authentication ...]; silence costs the sender 32 s of
    retransmissions instead of a clear answer.)"""
    p = sip_pbx()
    c = sip_client(p, "udp")
    r = send_raw(c, req_text(c, extra="2000[authentication username= password=x]"))
    assert r is not None, "no answer to a request with one malformed header line"
    assert r.status == 400 and "header" in r.reason.lower(), r.text()
    assert c.options().status == 200


def test_missing_cseq_does_no_harm(sip_pbx, sip_client):
    # Without CSeq no response could be matched: dropping it is fine; 400 too.
    p = sip_pbx()
    c = sip_client(p, "udp")
    r = send_raw(c, req_text(c, drop=("CSeq",)))
    assert r is None or (r.status == 400 and "CSeq" in r.reason), r
    assert c.options().status == 200


def test_missing_via_gets_no_answer_and_no_harm(sip_pbx, sip_client):
    p = sip_pbx()
    c = sip_client(p, "udp")
    c.send(req_text(c, drop=("Via",)).replace("\n", "\r\n"))
    assert c.silent(), "a request without Via cannot be answered, yet was"
    assert c.options().status == 200


def test_other_sip_version_gets_505(sip_pbx, sip_client):
    p = sip_pbx()
    c = sip_client(p, "udp")
    r = send_raw(c, req_text(c, version="SIP/3.0"))
    assert r is not None and r.status == 505, r


@pytest.mark.parametrize("ruri,status", [
    ("http://example.com/x", 416),
    ("sip:[::1", 400),
    ("sip:1001@exa_mple..com:99999", 400),
])
def test_bad_request_uri(sip_pbx, sip_client, ruri, status):
    p = sip_pbx()
    c = sip_client(p, "udp")
    r = send_raw(c, req_text(c, ruri=ruri))
    assert r is not None
    assert r.status == status, r.text()
    if status == 400:
        assert "Request-URI" in r.reason


@pytest.mark.parametrize("garbage", [
    b"\x00\x01\x02\xff" * 64,
    b"hello world\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
    b"SIP/2.0 200 OK\r\n\r\n",
    b"OPTIONS sip:x SIP/2.0\r\nVia: SIP/2.0/UDP",
])
def test_garbage_gets_no_answer_and_the_pbx_keeps_working(sip_pbx, sip_client, garbage):
    p = sip_pbx()
    c = sip_client(p, "udp")
    c.send(garbage)
    assert c.silent(0.5), "garbage was answered"
    r = c.options()
    assert r is not None and r.status == 200


def test_garbage_on_tcp_closes_that_connection_only(sip_pbx, sip_client):
    p = sip_pbx()
    bystander = sip_client(p, "tcp")
    c = sip_client(p, "tcp")
    c.send(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\x00" * 200)
    wait_for(lambda: c.recv(0.2) is None and c.closed, 5, "the garbage connection to close")
    assert bystander.options().status == 200


def test_compact_header_forms_are_understood(sip_pbx, sip_client):
    p = sip_pbx()
    c = sip_client(p, "udp")
    cid = token()
    text = (f"OPTIONS sip:test.local SIP/2.0\n"
            f"v: SIP/2.0/UDP 127.0.0.1:{c.port};branch=z9hG4bK{token(6)};rport\n"
            f"f: <sip:probe@test.local>;tag=1\nt: <sip:test.local>\ni: {cid}\n"
            f"CSeq: 3 OPTIONS\nl: 0\n\n")
    r = send_raw(c, text)
    assert r is not None and r.status == 200, r
    assert r.call_id == cid and r.cseq == (3, "OPTIONS")


def test_udp_keepalive_crlf_is_ignored(sip_pbx, sip_client):
    p = sip_pbx()
    c = sip_client(p, "udp")
    c.send(b"\r\n\r\n")
    assert c.silent(0.5)
    assert c.options().status == 200


# ---- transactions ----------------------------------------------------------------------------


def test_challenge_is_stateless(sip_pbx, sip_client):
    """A 401 to a REGISTER without credentials keeps no transaction (RFC 3261
    8.2.7, as Kamailio challenges): a retransmission gets a fresh challenge, and
    nothing waits 32 s for it. UDP only: over TCP the transaction ends with its
    final response anyway."""
    p = sip_pbx(users=["1001"])
    c = sip_client(p, "udp")
    ua = UA(c, "1001", "s3cret")
    before = json.loads(p.ok("sip show stats --json"))  # the start's OPTIONS ping may live
    data, cseq = ua.send_register(expires=600)
    r1 = c.response(ua.call_id, cseq)
    stats = json.loads(p.ok("sip show stats --json"))
    assert stats["server_transactions"] == before["server_transactions"], stats
    c.send(data)  # the same bytes: same branch, a retransmission
    r2 = c.response(ua.call_id, cseq)
    assert r1.status == r2.status == 401
    assert challenges(r1)[0]["nonce"] != challenges(r2)[0]["nonce"], \
        "the retransmission was absorbed by a kept transaction"
    # Either challenge is good for the authenticated REGISTER.
    auth = authorization(challenge_for(r1, "MD5"), "1001", "s3cret", "REGISTER", ua.ruri)
    data, cseq = ua.send_register(auth=auth, expires=600)
    assert c.response(ua.call_id, cseq).status == 200
    after = json.loads(p.ok("sip show stats --json"))
    assert after["received"] >= stats["received"] + 2
    # The 200 is stateless too over UDP (test_registrar.py has the rest).
    assert after["server_transactions"] == before["server_transactions"]


def test_retransmitted_authenticated_register_gets_the_same_200(sip_pbx, sip_client):
    """The 200 keeps no transaction over UDP: a retransmission is registered
    again, accepted as a retransmission (not a nonce-count replay, not an
    out-of-order CSeq), and answered with the same bytes."""
    p = sip_pbx(users=["1001"])
    c = sip_client(p, "udp")
    ua = UA(c, "1001", "s3cret")
    ch = challenge_for(ua.challenge(), "MD5")
    auth = authorization(ch, "1001", "s3cret", "REGISTER", ua.ruri)
    data, cseq = ua.send_register(auth=auth, expires=600)
    r1 = c.response(ua.call_id, cseq)
    assert r1.status == 200
    for _ in range(2):
        c.send(data)
        r = c.response(ua.call_id, cseq)
        assert r is not None and r.status == 200, r
        assert r.raw == r1.raw, "a retransmission got a different response"
    assert len(registrations(p)) == 1


def test_retransmitted_options_gets_one_identical_answer_each(sip_pbx, sip_client):
    p = sip_pbx()
    c = sip_client(p, "udp")
    cid = token()
    data = c.request("OPTIONS", call_id=cid, branch_id="z9hG4bK" + token(6))
    r1 = c.response(cid)
    c.send(data)
    r2 = c.response(cid)
    assert r1.raw == r2.raw
    assert c.silent(0.3), "more than one answer to one retransmission"


# ---- Via ---------------------------------------------------------------------------------------


def test_via_rport_gets_rport_and_received(sip_pbx, sip_client):
    p = sip_pbx()
    c = sip_client(p, "udp")
    cid = token()
    # The Via names another host and port: the answer must still come here.
    c.request("OPTIONS", call_id=cid, via_host="client.invalid", via_port=5099, rport=True)
    r = c.response(cid)
    assert r is not None, "the response did not come back to the source port"
    via = r["Via"]
    assert via.startswith("SIP/2.0/UDP client.invalid:5099;branch=z9hG4bK"), via
    assert f";rport={c.port}" in via, via
    assert ";received=127.0.0.1" in via, via
    assert via.count("rport") == 1


def test_via_host_equal_to_source_gets_no_received(sip_pbx, sip_client):
    p = sip_pbx()
    c = sip_client(p, "udp")
    r = c.options()
    assert "received=" not in r["Via"] and f"rport={c.port}" in r["Via"], r["Via"]


def test_without_rport_the_response_goes_to_the_via_port(sip_pbx, sip_client):
    p = sip_pbx()
    sender = sip_client(p, "udp")
    listener = sip_client(p, "udp")
    cid = token()
    sender.request("OPTIONS", call_id=cid, via_port=listener.port, rport=False)
    r = listener.response(cid, timeout=2)
    if r is None:
        stray = sender.response(cid, timeout=0.5)
        pytest.fail("RFC 3261 18.2.2: no response at the Via sent-by port"
                    + (" (it went to the source port instead)" if stray else ""))
    assert r.status == 200
    assert "rport" not in r["Via"]
    assert sender.silent(0.3)


def test_multiple_vias_are_echoed_in_order(sip_pbx, sip_client):
    p = sip_pbx()
    c = sip_client(p, "udp")
    cid = token()
    c.request("OPTIONS", call_id=cid, headers=[
        "Via: SIP/2.0/UDP proxy1.invalid;branch=z9hG4bKp1",
        "Via: SIP/2.0/TCP proxy2.invalid:5070;branch=z9hG4bKp2, SIP/2.0/UDP p3.invalid;branch=z9hG4bKp3",
    ])
    r = c.response(cid)
    vias = r.all("Via")
    assert len(vias) == 4, vias
    assert vias[1:] == ["SIP/2.0/UDP proxy1.invalid;branch=z9hG4bKp1",
                        "SIP/2.0/TCP proxy2.invalid:5070;branch=z9hG4bKp2",
                        "SIP/2.0/UDP p3.invalid;branch=z9hG4bKp3"]


# ---- TCP framing -------------------------------------------------------------------------------


def test_tcp_two_messages_in_one_segment_both_answered(sip_pbx, sip_client):
    p = sip_pbx()
    c = sip_client(p, "tcp")
    a, b = token(), token()
    c.send(build_request("OPTIONS", "sip:test.local", transport="TCP", via_port=c.port,
                         call_id=a)
           + build_request("OPTIONS", "sip:test.local", transport="TCP", via_port=c.port,
                           call_id=b))
    got = {c.response(a).call_id, c.response(b).call_id}
    assert got == {a, b}


def test_tcp_message_with_body_and_one_split_across_segments(sip_pbx, sip_client):
    p = sip_pbx()
    c = sip_client(p, "tcp")
    cid = token()
    data = build_request("OPTIONS", "sip:test.local", transport="TCP", via_port=c.port,
                         call_id=cid, headers=["Content-Type: text/plain"], body=b"x" * 300)
    cuts = [5, len(data) // 2, len(data) - 100, len(data) - 1]
    last = 0
    for cut in cuts:
        c.send(data[last:cut])
        last = cut
        time.sleep(0.1)
        assert c.recv(0.05) is None, "answered before the message was complete"
    c.send(data[last:])
    r = c.response(cid)
    assert r is not None and r.status == 200


def test_tcp_half_sent_message_does_not_block_others(sip_pbx, sip_client):
    p = sip_pbx()
    slow = sip_client(p, "tcp")
    fast = sip_client(p, "tcp")
    sid = token()
    data = build_request("OPTIONS", "sip:test.local", transport="TCP", via_port=slow.port,
                         call_id=sid)
    slow.send(data[:40])
    for _ in range(3):
        r = fast.options()
        assert r is not None and r.status == 200
    # The UDP side is not blocked either.
    u = sip_client(p, "udp")
    assert u.options().status == 200
    slow.send(data[40:])
    r = slow.response(sid)
    assert r is not None and r.status == 200


def test_tcp_double_crlf_ping_gets_crlf_pong(sip_pbx, sip_client):
    p = sip_pbx()
    c = sip_client(p, "tcp")
    c.send(b"\r\n\r\n")
    assert c.read_raw(3) == b"\r\n"
    # The connection still carries SIP afterwards.
    assert c.options().status == 200


def test_split_stream_helper_frames_by_content_length():
    # The test client's own framing, so a failure above is not blamed on it.
    msg = b"SIP/2.0 200 OK\r\nl: 3\r\n\r\nabc"
    assert split_stream(msg + b"SIP/2") == (msg, b"SIP/2")
    assert split_stream(msg[:-1]) == (None, msg[:-1])
    assert split_stream(b"\r\n" + msg) == (b"\r\n", msg)


# ---- debug -------------------------------------------------------------------------------------


def test_sip_set_debug_logs_messages(sip_pbx, sip_client):
    p = sip_pbx()
    c = sip_client(p, "udp")
    quiet = token()
    c.options(call_id=quiet)
    assert p.ok("sip set debug on") == "SIP debugging enabled.\n"
    cid = token()
    assert c.options(call_id=cid).status == 200

    def logged():
        log = p.log()
        return (re.search(rf"SIP received \d+ bytes from udp:127\.0\.0\.1:{c.port}", log)
                and re.search(rf"SIP sent \d+ bytes to udp:127\.0\.0\.1:{c.port}", log)
                and log.count(f"Call-ID: {cid}") >= 2)
    wait_for(logged, 5, "the debug trace of the OPTIONS and its 200")
    assert quiet not in p.log(), "logged before debug was switched on"
    assert p.ok("sip set debug off") == "SIP debugging disabled.\n"
    after = token()
    assert c.options(call_id=after).status == 200
    time.sleep(0.3)
    assert after not in p.log(), "still logging after `sip set debug off`"


def test_ipv6_loopback(pbx_factory, sip_client):
    if not socket.has_ipv6:
        pytest.skip("no IPv6")
    try:
        s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
        s.bind(("::1", 0))
        s.close()
    except OSError:
        pytest.skip("no ::1")
    p = pbx_factory()
    p.sections["sip"]["listen"] = [f"udp:[::1]:{p.port}", f"tcp:[::1]:{p.port}"]
    p.write_config()
    p.start()
    for tp in TRANSPORTS:
        c = SipClient(p.port, tp, host="::1", server_host="::1")
        try:
            cid = token()
            c.request("OPTIONS", call_id=cid, via_host="[::1]")
            r = wait_for(lambda: c.response(cid, timeout=1), 10, f"OPTIONS over {tp} on ::1")
            assert r.status == 200 and f"rport={c.port}" in r["Via"]
        finally:
            c.close()
