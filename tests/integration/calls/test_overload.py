"""Overload: a flood of new requests gets 503 with Retry-After while a call
that is up keeps working (issue 15).

The flood is a password guesser's: REGISTERs with made-up credentials for a
user that does not exist, from a socket of their own, paced faster than the
PBX can check them (each costs a directory lookup, a digest and a
transaction) for a bounded count and time, so the PBX's signalling thread
falls behind: what waited in the socket longer than
sip.overload_queue_delay is answered 503 at once. Meanwhile a call set up
before the flood is re-INVITEd and hung up: requests inside a dialog are
never shed.
"""

import json
import re
import socket
import threading
import time

import callib

FLOOD_SECONDS = 12.0  # at most: it stops once the call is over
# At least: a PBX that answers the call's requests quickly must still meet
# a backlog (batched replies made the first half second too short for one).
FLOOD_MIN_SECONDS = 3.0
# Paced at more than the PBX can answer with a challenge, about what it can
# answer with a 503 (tens of thousands a second under ASan): its socket
# overflows at times, so the phone in the call retransmits as a real one
# does (Timer A/E), and the kernel's drops cost it a retry, not the call.
FLOOD_RATE = 40000
FLOOD_MAX = int(FLOOD_RATE * FLOOD_SECONDS)


def register_guessing(port, local_port, i, realm):
    auth = (f'Digest username="9{i % 1000:03d}", realm="{realm}", nonce="{"0" * 64}", '
            f'uri="sip:127.0.0.1:{port}", response="{i:032x}", algorithm=MD5, '
            'cnonce="f100d", qop=auth, nc=00000001')
    return (f"REGISTER sip:127.0.0.1:{port} SIP/2.0\r\n"
            f"Via: SIP/2.0/UDP 127.0.0.1:{local_port};branch=z9hG4bK-flood-{i};rport\r\n"
            "Max-Forwards: 70\r\n"
            f"From: <sip:1001@pbx.test>;tag=f{i}\r\n"
            "To: <sip:1001@pbx.test>\r\n"
            f"Call-ID: flood-{i}@127.0.0.1\r\n"
            "CSeq: 1 REGISTER\r\n"
            f"Authorization: {auth}\r\n"
            f"Contact: <sip:1001@127.0.0.1:{local_port}>\r\n"
            "Content-Length: 0\r\n\r\n").encode()


class Flood:
    """Sends guessing REGISTERs in a thread and counts the answers."""

    def __init__(self, port, realm):
        self.port = port
        self.realm = realm
        self.s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
        self.s.bind(("127.0.0.1", 0))
        self.local = self.s.getsockname()[1]
        self.sent = 0
        self.stop = threading.Event()
        self.status = {}
        self.retry_after = set()
        self.t = threading.Thread(target=self._send, daemon=True)
        self.r = threading.Thread(target=self._receive, daemon=True)
        self.done = threading.Event()

    def _send(self):
        start = time.monotonic()
        end = start + FLOOD_SECONDS
        while not self.stop.is_set() and self.sent < FLOOD_MAX and time.monotonic() < end:
            due = int((time.monotonic() - start) * FLOOD_RATE)
            while self.sent < min(due, FLOOD_MAX):
                self.s.sendto(register_guessing(self.port, self.local, self.sent, self.realm),
                              ("127.0.0.1", self.port))
                self.sent += 1
            time.sleep(0.005)

    def _receive(self):
        self.s.settimeout(0.2)
        while not self.done.is_set():
            try:
                data = self.s.recv(65536)
            except socket.timeout:
                continue
            m = re.match(rb"SIP/2\.0 (\d{3})", data)
            if not m:
                continue
            code = int(m.group(1))
            self.status[code] = self.status.get(code, 0) + 1
            if code == 503:
                ra = re.search(rb"\r\nRetry-After: *(\d+)", data)
                self.retry_after.add(int(ra.group(1)) if ra else None)

    def start(self):
        self.started = time.monotonic()
        self.r.start()
        self.t.start()

    def finish(self, settle=2.0):
        self.stop.set()
        self.t.join(FLOOD_SECONDS + 5)
        time.sleep(settle)
        self.done.set()
        self.r.join(5)
        self.s.close()


def retransmitted(call, send, method, timeout=10):
    """Send a request of @call with send() -> CSeq, again at 0.5, 1, 2, 4 s (RFC 3261
    Timers A/E) until a final response: that response."""
    sent = []
    orig = call.p.send
    call.p.send = lambda data: (sent.append(data), orig(data))[1]
    try:
        cseq = send()
    finally:
        call.p.send = orig
    deadline = time.monotonic() + timeout
    interval = 0.5
    while True:
        try:
            return call.p.response_of(call.call_id, cseq, method, True, interval)
        except AssertionError:
            if time.monotonic() + interval > deadline:
                raise
            call.p.send(sent[-1])
            interval = min(interval * 2, 4)


def reinvite(call, direction):
    """callib.Call.reinvite with retransmissions."""
    call.sdp_version += 1
    call.local_sdp = callib.sdp_offer(call.rtp.port, call.codecs, call.dtmf_pt, direction,
                                      call.sdp_version)
    r = retransmitted(call, lambda: call.request("INVITE", body=call.local_sdp), "INVITE")
    if r.status == 200:
        call.ack(r.cseq[0])
        call.remote_sdp = callib.Sdp(r.body)
    return r


def call_up(p, phone):
    a = phone(p, "1001")
    b = phone(p, "1002")
    ca = a.call("1002")
    cb = b.incoming()
    cb.answer()
    ca.established()
    return ca, cb


def flood_during_call(p, phone):
    ca, cb = call_up(p, phone)
    before = json.loads(p.ok("sip show stats --json"))
    flood = Flood(p.port, p.domain)
    flood.start()
    time.sleep(0.3)  # well into the flood
    # Inside the dialog: re-INVITE (hold) and back, then BYE, all while it runs.
    r = reinvite(ca, "sendonly")
    assert r.status == 200, r.text()
    cb.answer_reinvite(cb.wait_request("INVITE", timeout=10), "recvonly")
    r = reinvite(ca, "sendrecv")
    assert r.status == 200, r.text()
    cb.answer_reinvite(cb.wait_request("INVITE", timeout=10), "sendrecv")
    assert flood.t.is_alive(), "the flood ended before the in-dialog requests were done"
    assert retransmitted(ca, lambda: ca.request("BYE"), "BYE").status == 200
    cb.wait_bye(timeout=10)
    time.sleep(max(0.0, flood.started + FLOOD_MIN_SECONDS - time.monotonic()))
    flood.finish()
    after = json.loads(p.ok("sip show stats --json"))
    return flood, before, after


def test_shipped_defaults_shed_a_flood_and_keep_the_call(shipped_pbx, phone):
    """On the shipped config: the flood is answered 401 while the thread keeps
    up and 503 with Retry-After (5 to 10 s) once it falls behind; the call's
    re-INVITEs and BYE are answered 200 throughout."""
    p = shipped_pbx()
    assert json.loads(p.ok("sip show stats --json"))["overload_queue_delay_ms"] == 100
    flood, before, after = flood_during_call(p, phone)
    shed = after["shed"] - before["shed"]
    assert set(flood.status) <= {401, 503}, flood.status
    assert flood.status.get(503, 0) > 0, (
        f"no 503 in {flood.sent} REGISTERs: {flood.status}, queue delay {after['queue_delay_ms']}")
    assert flood.retry_after and all(ra is not None and 5 <= ra <= 10
                                     for ra in flood.retry_after), flood.retry_after
    # Every 503 the flood got was counted (some may be lost in its socket).
    assert shed >= flood.status[503], (shed, flood.status)
    assert after["queue_delay_ms"]["max"] > 100, after
    assert after["nonces"]["slots"] == 65536
    # Once the flood is over, new requests are served again.
    callib.wait_channels(p, 0)
    c = callib.Phone(p, "1001", callib.PASSWORD)
    try:
        c.register()
    finally:
        c.close()
    text = p.ok("sip show stats")
    assert re.search(r"Shed \(503, overloaded\) *: \d+ \(past 100 ms in the queue\)", text), text


def test_overload_shedding_can_be_turned_off(call_pbx, phone):
    """sip.overload_queue_delay = 0: nothing is shed, however long the queue."""
    p = call_pbx(overload_queue_delay=0)
    flood, before, after = flood_during_call(p, phone)
    assert 503 not in flood.status, flood.status
    assert after["shed"] == before["shed"] == 0
    assert flood.status.get(401, 0) > 0
