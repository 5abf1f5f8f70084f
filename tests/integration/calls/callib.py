"""Helpers for the call tests: a raw SIP phone that places and takes calls
(on top of siplib's socket, message parser and digest code), an RTP
endpoint that sends G.711 tones and RFC 4733 events and records what it
gets, G.711 and tone measurement in pure Python (Goertzel), and drivers
for SIPp and baresip.

Everything here is bounded: every receive has a timeout, every loop a
deadline, every thread a stop flag and a join with a timeout. Failures
raise AssertionError with what was seen, so a test's message says what
happened on the wire.
"""

import math
import os
import re
import secrets
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
import wave
from pathlib import Path

HERE = Path(__file__).resolve().parent
SIP_DIR = HERE.parent / "sip"
if str(SIP_DIR) not in sys.path:
    sys.path.insert(0, str(SIP_DIR))

import siplib  # noqa: E402  (after the path fix above)
from siplib import SipMsg, authorization, branch, challenge_for, token  # noqa: E402

WAIT = 5.0          # one expected SIP message
RATE = 8000         # G.711 sample rate
PT_PCMU, PT_PCMA = 0, 8
CODEC_PT = {"PCMU": PT_PCMU, "PCMA": PT_PCMA}
PT_CODEC = {v: k for k, v in CODEC_PT.items()}
DTMF_EVENTS = "0123456789*#ABCD"
PASSWORD = "s3cret"

# The test dialplan. Every branch that matters leaves a line in the log
# (app.verbose writes at notice) and, where the caller can see it, ends
# with a distinctive SIP response:
#   _1XXX   Dial the user for 20 s (plain calls between phones)
#   _2XXX   Dial user 1XXX for 2 s, then one branch per DIALSTATUS:
#           BUSY -> 486 (USER_BUSY), NOANSWER -> 408 (NO_USER_RESPONSE),
#           CHANUNAVAIL -> 404 (UNALLOCATED)
#   600     Answer, Read up to 4 digits after a beep (10 s timeout), log them
#   700     an application that does not exist (a Lua error)
#   701     Dial given a table (a Lua error)
#   702     the same error as 700, after answering (BYE expected)
#   703     an endless loop (stopped by the engine's run-time limit)
#   h       logs DIALSTATUS: the only place a caller's CANCEL can be seen,
#           as in Asterisk (the main function ends with the hangup)
DIALPLAN = r'''
local function var(name)
  local v = channel[name]:get()
  if v == nil then return "<nil>" end
  return v
end

extensions = {
  default = {
    ["_1XXX"] = function(context, exten)
      local ret = app.dial("SIP/" .. exten, 20)
      app.verbose("DIAL " .. exten .. " DIALSTATUS=" .. var("DIALSTATUS") .. " ret=" .. tostring(ret))
    end,

    ["_2XXX"] = function(context, exten)
      local target = "1" .. exten:sub(2)
      local ret = app.dial("SIP/" .. target, 2)
      local status = var("DIALSTATUS")
      app.verbose("DIALSTATUS=" .. status .. " ret=" .. tostring(ret) .. " target=" .. target)
      if status == "BUSY" then
        app.verbose("BRANCH busy")
        app.hangup("USER_BUSY")
      elseif status == "NOANSWER" then
        app.verbose("BRANCH noanswer")
        app.hangup("NO_USER_RESPONSE")
      elseif status == "CHANUNAVAIL" then
        app.verbose("BRANCH chanunavail")
        app.hangup("UNALLOCATED")
      else
        app.verbose("BRANCH other " .. status)
      end
    end,

    ["600"] = function()
      app.answer()
      local digits = app.read("DIGITS", "beep", 4, nil, 1, 10)
      app.verbose("GOT " .. tostring(digits) .. " READSTATUS=" .. var("READSTATUS") ..
                  " DIGITS=" .. var("DIGITS"))
      app.hangup()
    end,

    ["700"] = function() app.nosuchapp("x") end,

    ["701"] = function() app.dial({ "SIP/1002" }, 20) end,

    ["702"] = function() app.answer() app.wait(0.2) app.nosuchapp("x") end,

    ["703"] = function() while true do end end,

    h = function()
      app.verbose("HANGUP HANDLER DIALSTATUS=" .. var("DIALSTATUS"))
    end,
  },
}
'''


# ---- G.711 (ITU-T G.711, as the reference C code) -----------------------------------------


def _ulaw_dec(u):
    u = ~u & 0xFF
    t = (((u & 0x0F) << 3) + 0x84) << ((u & 0x70) >> 4)
    return (0x84 - t) if (u & 0x80) else (t - 0x84)


def _alaw_dec(a):
    a ^= 0x55
    t = (a & 0x0F) << 4
    seg = (a & 0x70) >> 4
    if seg == 0:
        t += 8
    elif seg == 1:
        t += 0x108
    else:
        t = (t + 0x108) << (seg - 1)
    return t if (a & 0x80) else -t


ULAW_DEC = [_ulaw_dec(i) for i in range(256)]
ALAW_DEC = [_alaw_dec(i) for i in range(256)]


def lin2ulaw(s):
    s = max(-32768, min(32767, int(s))) >> 2  # 14 bits
    mask = 0xFF
    if s < 0:
        s = -s
        mask = 0x7F
    s = min(s, 8159) + 33
    seg = max((s >> 5).bit_length() - 1, 0)
    if seg > 7:
        return 0x7F ^ mask
    return ((seg << 4) | ((s >> (seg + 1)) & 0x0F)) ^ mask


def lin2alaw(s):
    s = max(-32768, min(32767, int(s))) >> 3  # 13 bits
    if s >= 0:
        mask = 0xD5
    else:
        mask = 0x55
        s = -s - 1
    if s < 32:
        aval = s >> 1
    else:
        seg = min((s >> 5).bit_length(), 7)
        aval = (seg << 4) | ((s >> seg) & 0x0F)
    return aval ^ mask


def encode(codec, samples):
    f = lin2ulaw if codec == "PCMU" else lin2alaw
    return bytes(f(s) for s in samples)


def decode(codec, data):
    t = ULAW_DEC if codec == "PCMU" else ALAW_DEC
    return [t[b] for b in data]


# ---- tones and their measurement ---------------------------------------------------------


def tone(freq, seconds, amplitude=8000, rate=RATE):
    n = int(seconds * rate)
    return [int(amplitude * math.sin(2 * math.pi * freq * i / rate)) for i in range(n)]


def write_wav(path, samples, rate=RATE):
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(struct.pack(f"<{len(samples)}h", *samples))


def read_wav(path):
    """(rate, mono samples) of a 16-bit PCM WAV (the first channel when stereo)."""
    with wave.open(str(path), "rb") as w:
        rate, ch, width = w.getframerate(), w.getnchannels(), w.getsampwidth()
        data = w.readframes(w.getnframes())
    assert width == 2, f"{path}: {8 * width}-bit samples, expected 16"
    s = struct.unpack(f"<{len(data) // 2}h", data)
    return rate, list(s[::ch])


def goertzel(samples, freq, rate=RATE):
    """Share (0..1) of the block's energy at @freq: ~1 for a pure tone there."""
    n = len(samples)
    if not n:
        return 0.0
    coeff = 2 * math.cos(2 * math.pi * freq / rate)
    s1 = s2 = 0.0
    energy = 0.0
    for x in samples:
        s0 = x + coeff * s1 - s2
        s2, s1 = s1, s0
        energy += x * x
    if energy <= 0:
        return 0.0
    power = s1 * s1 + s2 * s2 - coeff * s1 * s2
    return 2 * power / (n * energy)


def rms(samples):
    return math.sqrt(sum(x * x for x in samples) / len(samples)) if samples else 0.0


def tone_windows(samples, freq, rate=RATE, window=0.1, min_rms=300):
    """[(rms, share of @freq)] for each @window-second block that is not silent."""
    n = int(rate * window)
    out = []
    for i in range(0, len(samples) - n + 1, n):
        blk = samples[i:i + n]
        r = rms(blk)
        if r >= min_rms:
            out.append((r, goertzel(blk, freq, rate)))
    return out


def tone_seconds(samples, freq, rate=RATE, share=0.6, window=0.1):
    """How many seconds of @samples carry @freq as (at least @share of) their energy."""
    return sum(window for _, g in tone_windows(samples, freq, rate, window) if g >= share)


# ---- SDP --------------------------------------------------------------------------------------


def sdp_offer(port, codecs=("PCMU", "PCMA"), dtmf_pt=101, direction="sendrecv", version=1,
              sess_id=None, ptime=20, host="127.0.0.1"):
    pts = [CODEC_PT[c] for c in codecs] + ([dtmf_pt] if dtmf_pt else [])
    lines = ["v=0", f"o=- {sess_id or 4242} {version} IN IP4 {host}", "s=-",
             f"c=IN IP4 {host}", "t=0 0",
             f"m=audio {port} RTP/AVP {' '.join(str(p) for p in pts)}"]
    for c in codecs:
        lines.append(f"a=rtpmap:{CODEC_PT[c]} {c}/8000")
    if dtmf_pt:
        lines += [f"a=rtpmap:{dtmf_pt} telephone-event/8000", f"a=fmtp:{dtmf_pt} 0-16"]
    lines += [f"a=ptime:{ptime}", f"a={direction}"]
    return "\r\n".join(lines) + "\r\n"


class Sdp:
    """The audio stream of an SDP body: address, port, payload types, direction."""

    def __init__(self, body):
        text = body.decode() if isinstance(body, bytes) else body
        self.text = text
        self.host = None
        self.port = None
        self.pts = []
        self.rtpmap = {}
        self.direction = "sendrecv"
        self.sess_version = None
        self.sess_id = None
        media = False
        for line in text.splitlines():
            line = line.strip()
            if line.startswith("o="):
                self.sess_id = line.split()[1]
                self.sess_version = int(line.split()[2])
            elif line.startswith("c="):
                self.host = line.split()[-1]
            elif line.startswith("m=audio"):
                parts = line.split()
                self.port = int(parts[1])
                self.pts = [int(p) for p in parts[3:]]
                media = True
            elif line.startswith("a=rtpmap:"):
                pt, enc = line[9:].split(None, 1)
                self.rtpmap[int(pt)] = enc.split("/")[0]
            elif line[2:] in ("sendrecv", "sendonly", "recvonly", "inactive") and line[:2] == "a=":
                if media or self.direction == "sendrecv":
                    self.direction = line[2:]
        assert self.port is not None, f"no m=audio line in SDP:\n{text}"

    @property
    def addr(self):
        return (self.host, self.port)

    @property
    def codec(self):
        """The first audio codec listed (an answer lists the one chosen first)."""
        for pt in self.pts:
            name = self.rtpmap.get(pt) or PT_CODEC.get(pt)
            if name in CODEC_PT:
                return name
        return None

    @property
    def dtmf_pt(self):
        for pt, name in self.rtpmap.items():
            if name.lower() == "telephone-event":
                return pt
        return None


# ---- RTP --------------------------------------------------------------------------------------


class Rtp:
    """One RTP socket on loopback: a receiver thread records every packet, and
    send_* methods stream G.711 frames or RFC 4733 events to a peer.

    Received packets: (monotonic time, source, pt, marker, seq, ts, ssrc, payload).
    """

    def __init__(self, host="127.0.0.1"):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((host, 0))
        self.sock.settimeout(0.05)
        self.port = self.sock.getsockname()[1]
        self.packets = []
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.peer = None
        self.ssrc = secrets.randbits(32)
        self.seq = secrets.randbits(16)
        self.ts = secrets.randbits(32)
        self.sender = None
        self.sender_stop = threading.Event()
        self.sent = 0
        self.rx = threading.Thread(target=self._recv_loop, daemon=True)
        self.rx.start()

    def _recv_loop(self):
        while not self.stop.is_set():
            try:
                data, src = self.sock.recvfrom(4096)
            except socket.timeout:
                continue
            except OSError:
                return
            if len(data) < 12 or data[0] >> 6 != 2:
                continue
            cc = data[0] & 0x0F
            hl = 12 + 4 * cc
            if data[0] & 0x10 and len(data) >= hl + 4:
                hl += 4 + 4 * struct.unpack("!H", data[hl + 2:hl + 4])[0]
            seq, ts, ssrc = struct.unpack("!HII", data[2:12])
            with self.lock:
                self.packets.append((time.monotonic(), src, data[1] & 0x7F, data[1] >> 7, seq,
                                     ts, ssrc, data[hl:]))

    # -- what arrived

    def received(self, pt=None, since=0.0):
        with self.lock:
            return [p for p in self.packets if (pt is None or p[2] == pt) and p[0] >= since]

    def count(self, pt=None, since=0.0):
        return len(self.received(pt, since))

    def wait_packets(self, n, pt=None, since=0.0, timeout=WAIT, what="RTP packets"):
        deadline = time.monotonic() + timeout
        while self.count(pt, since) < n:
            if time.monotonic() > deadline:
                raise AssertionError(f"{what}: {self.count(pt, since)} of {n} arrived on "
                                     f"port {self.port} within {timeout}s "
                                     f"(all pts seen: {sorted({p[2] for p in self.received()})})")
            time.sleep(0.02)
        return self.received(pt, since)

    def audio(self, codec, since=0.0):
        """Decoded samples of every audio packet of @codec's payload type, in arrival order."""
        out = []
        for p in self.received(CODEC_PT[codec], since):
            out.extend(decode(codec, p[7]))
        return out

    def dtmf_events(self, pt, since=0.0):
        """[(digit, ended, duration)] per RFC 4733 event (packets with one timestamp), in order."""
        events = {}
        order = []
        for p in self.received(pt, since):
            pl = p[7]
            if len(pl) < 4:
                continue
            key = (p[6], p[5])  # ssrc, timestamp
            ev, end, dur = pl[0], bool(pl[1] & 0x80), struct.unpack("!H", pl[2:4])[0]
            digit = DTMF_EVENTS[ev] if ev < len(DTMF_EVENTS) else f"<{ev}>"
            if key not in events:
                order.append(key)
                events[key] = [digit, end, dur]
            else:
                e = events[key]
                e[1] = e[1] or end
                e[2] = max(e[2], dur)
        return [tuple(events[k]) for k in order]

    # -- sending

    def _packet(self, pt, payload, marker=False, ts=None):
        self.seq = (self.seq + 1) & 0xFFFF
        hdr = struct.pack("!BBHII", 0x80, (0x80 if marker else 0) | pt, self.seq,
                          self.ts if ts is None else ts, self.ssrc)
        return hdr + payload

    def send_raw(self, data, dest=None):
        self.sock.sendto(data, dest or self.peer)
        self.sent += 1

    def start_stream(self, codec, samples, dest=None, loop=True, ptime=0.02):
        """Stream @samples as @codec in a thread, again and again until stop_stream()."""
        n = int(RATE * ptime)
        frames = [encode(codec, samples[i:i + n]) for i in range(0, len(samples) - n + 1, n)]
        pt = CODEC_PT[codec]
        self.sender_stop.clear()

        def run():
            start = time.monotonic()
            i = 0
            deadline = start + 60  # bounded, whatever happens
            while not self.sender_stop.is_set() and time.monotonic() < deadline:
                fr = frames[i % len(frames)]
                try:
                    self.send_raw(self._packet(pt, fr, marker=(i == 0)), dest)
                except OSError:
                    return
                self.ts = (self.ts + len(fr)) & 0xFFFFFFFF
                i += 1
                if not loop and i >= len(frames):
                    return
                delay = start + i * ptime - time.monotonic()
                if delay > 0:
                    time.sleep(delay)

        self.sender = threading.Thread(target=run, daemon=True)
        self.sender.start()

    def stop_stream(self):
        self.sender_stop.set()
        if self.sender:
            self.sender.join(2)
            self.sender = None

    def send_dtmf(self, digit, pt, dest=None, duration_ms=100, ptime=0.02):
        """One RFC 4733 event: packets every @ptime, the last three with the E bit."""
        ev = DTMF_EVENTS.index(digit.upper())
        ts = self.ts
        steps = max(1, duration_ms // int(ptime * 1000))
        for i in range(steps):
            dur = (i + 1) * int(RATE * ptime)
            self.send_raw(self._packet(pt, struct.pack("!BBH", ev, 10, dur), marker=(i == 0),
                                       ts=ts), dest)
            time.sleep(ptime)
        end = struct.pack("!BBH", ev, 0x80 | 10, steps * int(RATE * ptime))
        for _ in range(3):
            self.send_raw(self._packet(pt, end, ts=ts), dest)
        self.ts = (self.ts + steps * int(RATE * ptime) + int(RATE * ptime)) & 0xFFFFFFFF
        time.sleep(ptime)

    def close(self):
        self.stop_stream()
        self.stop.set()
        self.rx.join(2)
        self.sock.close()


# ---- a raw SIP phone -------------------------------------------------------------------------


class Phone:
    """A SIP user agent on one UDP socket (siplib.SipClient) that registers,
    calls and answers. Messages are kept in an inbox; requests the PBX
    retransmits are answered again from a cache and not shown twice.
    """

    def __init__(self, pbx, ext, password="s3cret", name=None):
        self.pbx = pbx
        self.ext = str(ext)
        self.password = password
        self.name = name or f"phone{ext}"
        self.domain = pbx.domain
        self.c = siplib.SipClient(pbx.port, "udp", answer_options=False)
        self.port = self.c.port
        self.inbox = []
        self.log = []              # every message in or out, for failure messages
        self.answered = {}         # (branch, method) -> response bytes (None: not yet)
        self.calls = []
        self.rtps = []

    # -- I/O

    def contact(self):
        return f"<sip:{self.ext}@127.0.0.1:{self.port}>"

    def send(self, data):
        if isinstance(data, str):
            data = data.encode()
        self.log.append(("out", data.split(b"\r\n", 1)[0].decode(errors="replace")))
        self.c.send(data)

    def _pump(self, timeout):
        raw = self.c.read_raw(timeout)
        if raw is None or not raw.strip():
            return None
        m = SipMsg(raw)
        self.log.append(("in", m.start))
        if not m.is_response:
            vb = re.search(r"branch=([^;,\s]+)", m.get("Via", ""))
            key = (vb.group(1) if vb else None, m.method)
            if m.method != "ACK" and key in self.answered:
                if self.answered[key] is not None:
                    self.c.send(self.answered[key])  # a retransmission: answer it again
                return None
            if m.method != "ACK":
                self.answered[key] = None
            if m.method == "OPTIONS":
                self.reply(m, 200)
                return None
        self.inbox.append(m)
        return m

    def expect(self, pred, timeout=WAIT, what="a message"):
        deadline = time.monotonic() + timeout
        while True:
            for m in self.inbox:
                if pred(m):
                    self.inbox.remove(m)
                    return m
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(
                    f"{self.name}: no {what} within {timeout}s; inbox: "
                    f"{[m.start for m in self.inbox]}; last messages: {self.log[-12:]}")
            self._pump(min(left, 0.2))

    def quiet(self, pred, seconds):
        """True when nothing matching @pred arrives for @seconds."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            for m in self.inbox:
                if pred(m):
                    return False
            self._pump(min(deadline - time.monotonic(), 0.1) or 0.01)
        return not any(pred(m) for m in self.inbox)

    def answer_all(self, method, seconds=0.3, call_id=None):
        """Answer 200 to every @method request (of @call_id, when given) that came or
        comes within @seconds, e.g. the connected-line UPDATEs after a transfer: [them]."""
        self.quiet(lambda m: False, seconds)
        got = [m for m in self.inbox if m.method == method and
               (call_id is None or m.call_id == call_id)]
        for m in got:
            self.inbox.remove(m)
            self.reply(m, 200)
        return got

    def request_of(self, method, call_id=None, timeout=WAIT):
        return self.expect(lambda m: m.method == method and (call_id is None or
                                                             m.call_id == call_id),
                           timeout, f"{method} request")

    def response_of(self, call_id, cseq, method=None, final=True, timeout=WAIT):
        def ok(m):
            if not m.is_response or m.call_id != call_id or m.cseq[0] != cseq:
                return False
            if method and m.cseq[1] != method:
                return False
            return m.status >= 200 or not final
        return self.expect(ok, timeout, f"{'final ' if final else ''}response to CSeq {cseq} "
                                        f"{method or ''} in {call_id}")

    def reply(self, req, status, reason=None, to_tag=None, headers=(), body=None,
              contact=False):
        lines = [f"SIP/2.0 {status} {reason or REASONS.get(status, 'Something')}"]
        lines += [f"Via: {v}" for v in req.all("Via")]
        lines.append(f"From: {req['From']}")
        to = req["To"]
        if ";tag=" not in to and status > 100:
            to += f";tag={to_tag or token(4)}"
        lines.append(f"To: {to}")
        lines.append(f"Call-ID: {req.call_id}")
        lines.append(f"CSeq: {req['CSeq']}")
        if contact:
            lines.append(f"Contact: {self.contact()}")
        lines.extend(headers)
        b = body.encode() if isinstance(body, str) else (body or b"")
        if b:
            lines.append("Content-Type: application/sdp")
        lines.append(f"Content-Length: {len(b)}")
        data = ("\r\n".join(lines) + "\r\n\r\n").encode() + b
        vb = re.search(r"branch=([^;,\s]+)", req.get("Via", ""))
        # A retransmission of the request gets the last response again.
        self.answered[(vb.group(1) if vb else None, req.method)] = data
        self.send(data)
        return data

    # -- registration

    def register(self, expires=600, alg="MD5"):
        cid, tag = token(), token(4)
        aor = f"sip:{self.ext}@{self.domain}"
        ruri = f"sip:{self.domain}"

        def reg(cseq, auth=None):
            hs = [f"Authorization: {auth}"] if auth else []
            self.send(siplib.build_request(
                "REGISTER", ruri, via_port=self.port, from_uri=aor, from_tag=tag, to_uri=aor,
                call_id=cid, cseq=cseq, contact=self.contact(), expires=expires, headers=hs))
            return self.response_of(cid, cseq)

        r = reg(1)
        assert r.status == 401, r.text()
        r = reg(2, authorization(challenge_for(r, alg), self.ext, self.password, "REGISTER",
                                 ruri))
        assert r.status == 200, f"{self.name}: REGISTER -> {r.status}\n{r.text()}"
        return r

    # -- calls

    def new_rtp(self):
        r = Rtp()
        self.rtps.append(r)
        return r

    def call(self, target, codecs=("PCMU", "PCMA"), dtmf_pt=101, direction="sendrecv",
             alg="MD5"):
        """Send INVITE to @target (the user part), answer the 401, return the Call.

        The Call's INVITE is sent with credentials; wait for what comes
        with call.final() / call.provisional().
        """
        c = Call(self, uac=True)
        c.rtp = self.new_rtp()
        c.remote_uri = f"sip:{target}@{self.domain}"
        c.local_uri = f"sip:{self.ext}@{self.domain}"
        c.ruri = f"sip:{target}@127.0.0.1:{self.pbx.port}"
        c.codecs = codecs
        c.dtmf_pt = dtmf_pt
        c.local_sdp = sdp_offer(c.rtp.port, codecs, dtmf_pt, direction, c.sdp_version)
        c.send_invite()
        r = c.final(timeout=WAIT)
        assert r.status == 401, f"{self.name}: INVITE without credentials got {r.status}"
        c.ack_failure(r)
        c.cseq += 1
        c.send_invite(authorization(challenge_for(r, alg), self.ext, self.password, "INVITE",
                                    c.ruri))
        self.calls.append(c)
        return c

    def incoming(self, timeout=WAIT):
        """The next new INVITE the PBX sends us, as a Call (100 Trying sent)."""
        inv = self.expect(lambda m: m.method == "INVITE" and ";tag=" not in m.get("To", ""),
                          timeout, "incoming INVITE")
        c = Call(self, uac=False)
        c.invite = inv
        c.call_id = inv.call_id
        c.local_tag = token(4)
        c.remote_tag = re.search(r";tag=([^;>\s]+)", inv["From"]).group(1)
        c.remote_target = _uri_of(inv["Contact"])
        c.remote_from = inv["From"]
        c.local_to = inv["To"]
        c.offer = Sdp(inv.body) if inv.body else None
        c.remote_cseq = inv.cseq[0]
        self.reply(inv, 100)
        self.calls.append(c)
        return c

    def close(self):
        for r in self.rtps:
            r.close()
        self.c.close()


REASONS = {100: "Trying", 180: "Ringing", 183: "Session Progress", 200: "OK",
           481: "Call/Transaction Does Not Exist", 486: "Busy Here", 487: "Request Terminated",
           488: "Not Acceptable Here", 603: "Decline"}


def _uri_of(header_value):
    m = re.search(r"<([^>]+)>", header_value)
    return m.group(1) if m else header_value.split(";")[0].strip()


class Call:
    """One dialog of a Phone: as caller (uac) or callee."""

    def __init__(self, phone, uac):
        self.p = phone
        self.uac = uac
        self.call_id = token()
        self.local_tag = token(4)
        self.remote_tag = None
        self.cseq = 1
        self.invite_cseq = 1
        self.invite_branch = None
        self.invite_bytes = None
        self.remote_target = None
        self.rtp = None
        self.remote_sdp = None
        self.sdp_version = 1
        self.codecs = ("PCMU", "PCMA")
        self.dtmf_pt = 101
        self.invite = None
        self.offer = None

    # -- as caller

    def send_invite(self, auth=None):
        self.invite_branch = branch()
        self.invite_cseq = self.cseq
        hs = ["Content-Type: application/sdp", "Allow: INVITE, ACK, CANCEL, BYE, OPTIONS, INFO"]
        if auth:
            hs.append(f"Authorization: {auth}")
        self.invite_bytes = siplib.build_request(
            "INVITE", self.ruri, via_port=self.p.port, branch_id=self.invite_branch,
            from_uri=self.local_uri, from_tag=self.local_tag, to_uri=self.remote_uri,
            call_id=self.call_id, cseq=self.cseq, contact=self.p.contact(), headers=hs,
            body=self.local_sdp)
        self.p.send(self.invite_bytes)

    def final(self, timeout=WAIT):
        return self.p.response_of(self.call_id, self.invite_cseq, "INVITE", True, timeout)

    def provisional(self, status=180, timeout=WAIT):
        return self.p.expect(
            lambda m: m.is_response and m.call_id == self.call_id and m.status == status and
            m.cseq == (self.invite_cseq, "INVITE"), timeout, f"{status} to the INVITE")

    def ack_failure(self, resp):
        """ACK a non-2xx final (same branch, the response's To)."""
        data = (f"ACK {self.ruri} SIP/2.0\r\n"
                f"Via: SIP/2.0/UDP 127.0.0.1:{self.p.port};branch={self.invite_branch};rport\r\n"
                f"Max-Forwards: 70\r\nFrom: {resp['From']}\r\nTo: {resp['To']}\r\n"
                f"Call-ID: {self.call_id}\r\nCSeq: {resp.cseq[0]} ACK\r\n"
                f"Content-Length: 0\r\n\r\n")
        self.p.send(data)

    def established(self, timeout=WAIT):
        """Wait for the 200 to our INVITE, ACK it, point RTP at the answer; returns the 200."""
        r = self.final(timeout)
        assert r.status == 200, f"{self.p.name}: call to {self.remote_uri} got {r.status} " \
                                f"{r.reason}\n{r.text()}"
        self.remote_tag = re.search(r";tag=([^;>\s]+)", r["To"]).group(1)
        self.remote_target = _uri_of(r["Contact"])
        self.ack(r.cseq[0])
        self.remote_sdp = Sdp(r.body)
        self.rtp.peer = self.remote_sdp.addr
        return r

    def ack(self, cseq):
        self.p.send(siplib.build_request(
            "ACK", self.remote_target, via_port=self.p.port, from_uri=self.local_uri,
            from_tag=self.local_tag, to_uri=self.remote_uri, to_tag=self.remote_tag,
            call_id=self.call_id, cseq=cseq))

    def cancel(self):
        """CANCEL our INVITE: returns (200 to the CANCEL, the INVITE's final, ACKed)."""
        data = (f"CANCEL {self.ruri} SIP/2.0\r\n"
                f"Via: SIP/2.0/UDP 127.0.0.1:{self.p.port};branch={self.invite_branch};rport\r\n"
                f"Max-Forwards: 70\r\nFrom: <{self.local_uri}>;tag={self.local_tag}\r\n"
                f"To: <{self.remote_uri}>\r\nCall-ID: {self.call_id}\r\n"
                f"CSeq: {self.invite_cseq} CANCEL\r\nContent-Length: 0\r\n\r\n")
        self.p.send(data)
        ok = self.p.response_of(self.call_id, self.invite_cseq, "CANCEL")
        fin = self.final()
        if fin.status >= 300:
            self.ack_failure(fin)
        return ok, fin

    # -- in the dialog (either side)

    @property
    def _local(self):
        return self.local_uri if self.uac else _uri_of(self.local_to)

    @property
    def _remote(self):
        return self.remote_uri if self.uac else _uri_of(self.remote_from)

    def request(self, method, headers=(), body=b"", content_type="application/sdp"):
        self.cseq = max(self.cseq, 1) + 1 if self.uac else max(self.cseq, 100) + 1
        self.p.send(siplib.build_request(
            method, self.remote_target, via_port=self.p.port, from_uri=self._local,
            from_tag=self.local_tag, to_uri=self._remote, to_tag=self.remote_tag,
            call_id=self.call_id, cseq=self.cseq, contact=self.p.contact(),
            headers=list(headers) + ([f"Content-Type: {content_type}"] if body else []),
            body=body))
        return self.cseq

    def info_dtmf(self, digit, duration_ms=160):
        """One key press as SIP INFO (application/dtmf-relay); the 200 to it."""
        cseq = self.request("INFO", body=f"Signal={digit}\r\nDuration={duration_ms}\r\n",
                            content_type="application/dtmf-relay")
        return self.p.response_of(self.call_id, cseq, "INFO")

    def bye(self, timeout=WAIT):
        cseq = self.request("BYE")
        return self.p.response_of(self.call_id, cseq, "BYE", True, timeout)

    def reinvite(self, direction, timeout=WAIT):
        """Re-INVITE with our SDP set to @direction; ACKs the 2xx; returns it."""
        self.sdp_version += 1
        self.local_sdp = sdp_offer(self.rtp.port, self.codecs, self.dtmf_pt, direction,
                                   self.sdp_version)
        cseq = self.request("INVITE", body=self.local_sdp)
        r = self.p.response_of(self.call_id, cseq, "INVITE", True, timeout)
        if r.status == 200:
            self.ack(cseq)
            self.remote_sdp = Sdp(r.body)
        return r

    def wait_request(self, method, timeout=WAIT):
        """The next @method in this dialog, checked to be in it (tags, CSeq order)."""
        req = self.p.request_of(method, self.call_id, timeout)
        if self.remote_tag and method != "CANCEL":
            self.check_in_dialog(req)
        return req

    def check_in_dialog(self, req):
        """RFC 3261 12.2: a request of the far end carries our tag in To, its own in From,
        and (but for ACK) a CSeq above the last one it sent."""
        to_tag = re.search(r";tag=([^;>\s]+)", req["To"])
        from_tag = re.search(r";tag=([^;>\s]+)", req["From"])
        assert to_tag and to_tag.group(1) == self.local_tag, \
            f"{req.method} in {self.call_id}: To tag {to_tag and to_tag.group(1)}, " \
            f"ours is {self.local_tag}\n{req.text()}"
        assert from_tag and from_tag.group(1) == self.remote_tag, \
            f"{req.method} in {self.call_id}: From tag {from_tag and from_tag.group(1)}, " \
            f"the dialog's is {self.remote_tag}\n{req.text()}"
        if req.method != "ACK":
            last = getattr(self, "remote_cseq", None)
            if last is not None:
                assert req.cseq[0] > last, \
                    f"{req.method} CSeq {req.cseq[0]} not above {last}\n{req.text()}"
            self.remote_cseq = req.cseq[0]

    def wait_bye(self, timeout=WAIT):
        """The BYE the PBX sends in this dialog, answered 200."""
        bye = self.wait_request("BYE", timeout)
        self.p.reply(bye, 200)
        return bye

    # -- as callee

    def ring(self):
        self.p.reply(self.invite, 180, to_tag=self.local_tag, contact=True)

    def answer(self, codecs=None, direction="sendrecv", wait_ack=True, dtmf=True):
        """200 with an SDP answer to the PBX's offer (without telephone-event when
        not @dtmf); waits for the ACK."""
        offer = self.offer
        assert offer is not None, "the PBX's INVITE had no SDP offer"
        mine = [c for c in (codecs or self.codecs)
                if CODEC_PT[c] in offer.pts or c in offer.rtpmap.values()]
        assert mine, f"no common codec with the PBX's offer {offer.pts}"
        self.codecs = (mine[0],)
        self.dtmf_pt = offer.dtmf_pt if dtmf else None
        self.rtp = self.p.new_rtp()
        self.rtp.peer = offer.addr
        self.remote_sdp = offer
        self.local_sdp = sdp_offer(self.rtp.port, self.codecs, self.dtmf_pt, direction,
                                   self.sdp_version)
        self.p.reply(self.invite, 200, to_tag=self.local_tag, body=self.local_sdp, contact=True)
        self.remote_uri = _uri_of(self.remote_from)
        self.local_uri = _uri_of(self.local_to)
        if wait_ack:
            self.wait_request("ACK")

    def reject(self, status):
        self.p.reply(self.invite, status, to_tag=self.local_tag)
        return self.wait_request("ACK")

    def answer_reinvite(self, req, direction):
        """200 to a re-INVITE from the PBX, with our SDP at @direction; waits for the ACK."""
        self.sdp_version += 1
        offer = Sdp(req.body)
        self.remote_sdp = offer
        self.rtp.peer = offer.addr
        sdp = sdp_offer(self.rtp.port, self.codecs, self.dtmf_pt, direction, self.sdp_version)
        self.p.reply(req, 200, body=sdp, contact=True)
        self.wait_request("ACK")


# ---- the PBX --------------------------------------------------------------------------------


def channels(pbx):
    import json
    return json.loads(pbx.ok("core show channels --json"))


def bridges(pbx):
    import json
    return json.loads(pbx.ok("core show bridges --json"))


def wait_channels(pbx, n, timeout=WAIT, what=None):
    deadline = time.monotonic() + timeout
    while True:
        chans = channels(pbx)
        if len(chans) == n:
            return chans
        if time.monotonic() > deadline:
            raise AssertionError(f"{what or f'{n} channels'}: the PBX lists {len(chans)}:\n"
                                 f"{chans}")
        time.sleep(0.1)


def wait_log(pbx, pattern, timeout=WAIT, what=None):
    """The first match of regex @pattern in the PBX's log, waiting for it."""
    deadline = time.monotonic() + timeout
    rx = re.compile(pattern)
    while True:
        m = rx.search(pbx.log())
        if m:
            return m
        if time.monotonic() > deadline:
            raise AssertionError(f"{what or pattern!r} not in the PBX log within {timeout}s:\n"
                                 f"{pbx.log()[-4000:]}")
        time.sleep(0.05)


# ---- SIPp ---------------------------------------------------------------------------------


SIPP_PCAP_DIR = Path("/usr/share/sip-tester")


def wait_udp_bound(port, timeout=WAIT):
    """Wait until some process has a UDP socket bound to @port (read from
    /proc/net/udp, so the check itself never takes the port). A SIPp UAS
    started under load may take a second to bind, and an INVITE sent
    before that meets ICMP port unreachable and fails the fork."""
    want = f":{port:04X}"

    def bound():
        for table in ("/proc/net/udp", "/proc/net/udp6"):
            try:
                with open(table) as f:
                    next(f)
                    if any(line.split()[1].endswith(want) for line in f):
                        return True
            except OSError:
                continue
        return False

    siplib.wait_for(bound, timeout, f"a process to bind UDP port {port}", interval=0.02)


def free_port_pair():
    """An even port P with P..P+3 free on UDP (SIPp's media port, RTCP, video)."""
    for _ in range(200):
        p = siplib.free_udp_tcp_port()
        p -= p % 2
        socks = []
        try:
            for q in range(p, p + 4):
                s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                socks.append(s)
                s.bind(("127.0.0.1", q))
            siplib.reserve_ports(range(p, p + 4))
            return p
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
    raise RuntimeError("no free port run found")


def read_pcap_rtp(path, dst_port=None, timed=False):
    """[(pt, payload)] of every RTP packet in a pcap (Ethernet/IPv4/UDP); only
    those to @dst_port when given; with @timed, [(capture time, pt, payload)]."""
    data = Path(path).read_bytes()
    magic = struct.unpack("<I", data[:4])[0]
    endian = "<" if magic in (0xA1B2C3D4, 0xA1B23C4D) else ">"
    nano = magic in (0xA1B23C4D, 0x4D3CB2A1)
    off = 24
    out = []
    while off + 16 <= len(data):
        sec, frac, incl, _ = struct.unpack(endian + "IIII", data[off:off + 16])
        off += 16
        pkt = data[off:off + incl]
        off += incl
        if len(pkt) < 14 + 20 + 8 + 12 or struct.unpack("!H", pkt[12:14])[0] != 0x0800:
            continue
        ihl = (pkt[14] & 0x0F) * 4
        if dst_port is not None and \
                struct.unpack("!H", pkt[14 + ihl + 2:14 + ihl + 4])[0] != dst_port:
            continue
        rtp = pkt[14 + ihl + 8:]
        cc = rtp[0] & 0x0F
        item = (rtp[1] & 0x7F, rtp[12 + 4 * cc:])
        out.append((sec + frac / (1e9 if nano else 1e6),) + item if timed else item)
    return out


def sipp_cmd(pbx, scenario, port, mport, *extra, calls=1, timeout=20, service=None, workdir,
             name=None):
    name = name or str(port)
    cmd = [siplib.tool("sipp"), f"127.0.0.1:{pbx.port}", "-sf", str(scenario),
           "-i", "127.0.0.1", "-p", str(port), "-mi", "127.0.0.1", "-mp", str(mport),
           "-t", "u1", "-m", str(calls), "-l", "1", "-nostdin", "-nd",
           "-timeout", f"{timeout}s", "-timeout_error", "-max_retrans", "5",
           "-key", "domain", pbx.domain,
           "-trace_err", "-error_file", str(workdir / f"sipp-{name}-errors.log"),
           "-trace_msg", "-message_file", str(workdir / f"sipp-{name}-messages.log"),
           "-trace_screen", "-screen_file", str(workdir / f"sipp-{name}-screen.log"),
           *extra]
    if service:
        cmd += ["-s", service]
    return cmd


def sipp_detail(workdir, name):
    out = []
    for kind in ("errors", "screen", "messages"):
        f = workdir / f"sipp-{name}-{kind}.log"
        if f.exists():
            out.append(f"--- {f.name}:\n{f.read_text(errors='replace')[-4000:]}")
    return "\n".join(out)


class Sipp:
    """A SIPp process in the background, bounded by its own -timeout and ours."""

    def __init__(self, cmd, workdir, name):
        self.cmd = cmd
        self.workdir = workdir
        self.name = name
        self.out = workdir / f"sipp-{name}.out"
        with open(self.out, "wb") as f:
            self.proc = subprocess.Popen(cmd, cwd=workdir, stdin=subprocess.DEVNULL, stdout=f,
                                         stderr=subprocess.STDOUT, start_new_session=True)

    def wait(self, timeout):
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(f"sipp {self.name} still running after {timeout}s\n"
                                 f"{self.detail()}")
        return rc

    def detail(self):
        return (f"$ {' '.join(self.cmd)}\n{self.out.read_text(errors='replace')[-2000:]}\n"
                f"{sipp_detail(self.workdir, self.name)}")

    def kill(self):
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(5)


# ---- baresip ----------------------------------------------------------------------------------

# baresip 1.0's codec specs (name/rate/channels, as its "aucodec:" lines say) and modules
# for the codecs beyond G.711, which g711.so brings.
CODEC_SPEC = {"G722": "G722/16000/1", "opus": "opus/48000/2"}
CODEC_MODULE = {"G722": "g722.so", "opus": "opus.so"}


def wav_rate(path):
    with wave.open(str(path), "rb") as w:
        return w.getframerate()


def ctrl_messages(buf):
    """The whole JSON netstrings at the start of @buf (baresip's ctrl_tcp), and the rest."""
    import json
    objs = []
    while True:
        m = re.match(rb"(\d+):", buf)
        if not m or len(buf) < m.end() + int(m.group(1)) + 1:
            return objs, buf
        n = int(m.group(1))
        objs.append(json.loads(buf[m.end():m.end() + n]))
        buf = buf[m.end() + n + 1:]


class ControlEvents:
    """Every event a baresip sends on its ctrl_tcp socket (netstring JSON), collected."""

    def __init__(self, port):
        self.events = []
        self.lock = threading.Lock()
        self.stop = threading.Event()
        deadline = time.monotonic() + 10
        while True:
            try:
                self.sock = socket.create_connection(("127.0.0.1", port), timeout=0.2)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.01)
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        buf = b""
        while not self.stop.is_set():
            try:
                data = self.sock.recv(65536)
            except socket.timeout:
                continue
            except OSError:
                return
            if not data:
                return
            objs, buf = ctrl_messages(buf + data)
            with self.lock:
                self.events.extend(o for o in objs if o.get("event"))

    def params(self, kind):
        """The params of the events of type @kind so far (MWI_NOTIFY: the NOTIFY bodies;
        CALL_DTMF_START: the keys received)."""
        with self.lock:
            return [e.get("param", "") for e in self.events if e.get("type") == kind]

    def mwi(self):
        return self.params("MWI_NOTIFY")

    def close(self):
        self.stop.set()
        self.sock.close()
        self.thread.join(2)


class Baresip:
    """baresip 1.0 headless: aufile reads a WAV as the microphone, sndfile
    dumps what is decoded from the network (dump-*-dec.wav in snd_path).
    There is no audio player: in 1.0 the decoder and its filters run on
    receive, so the dump is written without one. Commands go through
    ctrl_tcp (JSON in netstrings); the account's audio_codecs pins the law
    and answermode=auto makes the callee answer by itself. net_interface
    names the address (1.0 finds no device called "lo" here), so SDP says
    127.0.0.1.

    Wideband codecs: @codec is a name of CODEC_SPEC ("G722", "opus") or a
    full baresip spec; their modules (g722.so, opus.so) are loaded besides
    g711.so, as is every module in @modules. baresip 1.0 looks a bare
    "G722" up as G722/8000/1, finds nothing, says "account: audio codec
    not found" and offers every codec it has, so the spec must carry the
    rate and channels. aufile refuses a WAV whose rate is not ausrc_srate
    ("must have sample-rate"), so ausrc_srate and auplay_srate are the
    source WAV's rate (8000 while it does not exist; @srate overrides it);
    baresip resamples between that and the codec's rate itself ("enable
    ausrc resampler"). The decoded dump is at the codec's rate (16000 for
    G.722; 48000 and two channels for Opus): read it from the WAV."""

    def __init__(self, workdir, pbx, user, source_wav, codec, password="s3cret",
                 answermode="manual", modules=(), srate=None, sip_trace=False, verbose=False):
        self.user = user
        names = [c.split("/")[0] for c in codec.split(",")]
        codec = ",".join(CODEC_SPEC.get(c, c) for c in codec.split(","))
        mods = ["g711.so"]
        for m in [CODEC_MODULE[n] for n in names if n in CODEC_MODULE] + list(modules):
            if m not in mods:
                mods.append(m)
        if srate is None:
            srate = wav_rate(source_wav) if Path(source_wav).exists() else RATE
        self.dir = Path(workdir) / f"baresip-{user}"
        self.dir.mkdir()
        self.rec = self.dir / "rec"
        self.rec.mkdir()
        self.port = siplib.free_udp_tcp_port()
        self.ctrl_port = siplib.free_udp_tcp_port()
        (self.dir / "config").write_text(
            "poll_method\t\tepoll\n"
            f"sip_listen\t\t127.0.0.1:{self.port}\n"
            "net_interface\t\t127.0.0.1\n"
            "audio_path\t\t/usr/share/baresip\n"
            f"audio_source\t\taufile,{source_wav}\n"
            f"ausrc_srate\t\t{srate}\n"
            f"auplay_srate\t\t{srate}\n"
            "ausrc_channels\t\t1\n"
            "auplay_channels\t\t1\n"
            "rtp_timeout\t\t0\n"
            "jitter_buffer_delay\t1-10\n"
            f"snd_path\t\t{self.rec}\n"
            f"ctrl_tcp_listen\t\t127.0.0.1:{self.ctrl_port}\n"
            "module_path\t\t/usr/lib/baresip/modules\n"
            + "".join(f"module\t\t\t{m}\n" for m in mods) +
            "module\t\t\taufile.so\n"
            "module\t\t\tsndfile.so\n"
            "module\t\t\tmenu.so\n"
            "module_app\t\tctrl_tcp.so\n"
            "module_tmp\t\tuuid.so\n"
            "module_tmp\t\taccount.so\n")
        (self.dir / "accounts").write_text(
            f"<sip:{user}@127.0.0.1:{pbx.port};transport=udp>;auth_pass={password}"
            f";regint=600;audio_codecs={codec};answermode={answermode};ptime=20\n")
        (self.dir / "contacts").write_text("")
        self.log_path = self.dir / "baresip.log"
        self.sip_trace = sip_trace  # every SIP message in the log (baresip -s)
        self.verbose = verbose  # debug lines too (baresip -v): received DTMF, ...
        self.proc = None

    def start(self, quit_after=60):
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(
                [siplib.tool("baresip"), "-f", str(self.dir), "-t", str(quit_after)]
                + (["-s"] if self.sip_trace else []) + (["-v"] if self.verbose else []),
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True)
        return self

    def log(self):
        return self.log_path.read_text(errors="replace")

    def command(self, cmd, params=""):
        """Send one command over ctrl_tcp; its response dict."""
        import json
        msg = json.dumps({"command": cmd, "params": params, "token": "t"}).encode()
        deadline = time.monotonic() + WAIT
        with socket.create_connection(("127.0.0.1", self.ctrl_port), timeout=WAIT) as s:
            s.sendall(str(len(msg)).encode() + b":" + msg + b",")
            buf = b""
            while time.monotonic() < deadline:
                try:
                    data = s.recv(65536)
                except socket.timeout:
                    break
                if not data:
                    break
                buf += data
                objs, buf = ctrl_messages(buf)  # skip events, keep the response
                for obj in objs:
                    if obj.get("response"):
                        return obj
        raise AssertionError(f"baresip {self.user}: no response to {cmd!r}\n{self.log()[-3000:]}")

    def codecs_set(self, kind="decoder"):
        """[(name, rate, channels)] of every "Set audio @kind" line in the log so far
        (kind "decoder" or "encoder"), e.g. [("G722", 16000, 1)]."""
        return [(m[1], int(m[2]), int(m[3])) for m in
                re.finditer(rf"Set audio {kind}: (\S+) (\d+)Hz (\d+)ch", self.log())]

    def recordings(self, kind="dec"):
        return sorted(self.rec.glob(f"dump-*-{kind}.wav"))

    def assert_hears_at_end(self, freq, seconds, slack=1.5):
        """In the last @seconds of what this phone decoded (its newest recording; stop
        it first), @freq is heard for all but @slack seconds."""
        recs = self.recordings("dec")
        assert recs, f"{self.user}: no recording"
        rate, samples = read_wav(recs[-1])
        tail = samples[-int(seconds * rate):]
        heard = tone_seconds(tail, freq, rate)
        assert heard >= seconds - slack, (
            f"{self.user} heard {heard:.1f}s of {freq} Hz in the last {seconds}s: "
            f"{tone_windows(tail, freq)[:20]}")

    def stop(self, timeout=8):
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(5)
