"""Helpers for the end-to-end SRTP tests (test_srtp_e2e.py, test_srtp_reoffer.py): a baresip 1.0
phone that can register over TLS and encrypt its media (mediaenc=srtp-mand,
the srtp module), a loopback capture with dumpcap, and the measure of what
the captured RTP payloads carry.

The wire check does not compare bytes with an encoder's framing: it decodes
each captured 20 ms payload as the G.711 law its payload type names and asks
Goertzel (callib.goertzel) how much of its energy sits at each phone's tone.
A plain leg shows the tone in nearly every packet; an SRTP leg, whose
payloads are AES-CTR/GCM output, shows it in none (noise spreads its energy
over every frequency: a 160-sample block of it puts ~1% at any one bin).
The control test (a plain call) proves the check can fail.

Last, a call between two such phones (talk) and its checks: what each phone
heard (frequency and level), each leg's wire, SDP and media ports.

Everything is bounded: dumpcap has its own duration limit besides ours.
"""

import math
import os
import re
import signal
import socket
import struct
import subprocess
import time
from pathlib import Path

import callib
import siplib
from callib import PT_CODEC, Baresip, decode, goertzel, read_wav, rms, tone_seconds

# Each phone's tone, and how long a call talks (seconds).
F_CALLER, F_CALLEE = 1000, 1400
TALK = 3.0
TONE_AMPLITUDE = 8000  # callib.tone's default: what each phone's WAV holds


def free_port_run(n=2):
    """A port P with P..P+n-1 free on UDP and TCP (baresip puts TLS on its SIP port + 1)."""
    for _ in range(200):
        p = siplib.free_udp_tcp_port()
        socks = []
        try:
            for q in range(p, p + n):
                for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
                    s = socket.socket(socket.AF_INET, kind)
                    socks.append(s)
                    s.bind(("127.0.0.1", q))
            siplib.reserve_ports(range(p, p + n))
            return p
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
    raise RuntimeError("no free port run found")


class SrtpBaresip(Baresip):
    """callib.Baresip with a transport (udp or tls), a media encryption
    (None or e.g. "srtp-mand") and RTP ports of its own (rtp_ports A-B), so
    a capture can tell its leg from the other phone's.

    baresip 1.0 adds its TLS transport on sip_listen's port + 1 and trusts
    any server certificate (libre 1.1's verify handler accepts every peer),
    so the PBX's self-signed certificate needs no CA file.
    """

    def __init__(self, workdir, pbx, user, source_wav, codec, *, transport="udp",
                 mediaenc=None, rtp_ports=None, answermode="manual", password="s3cret"):
        super().__init__(workdir, pbx, user, source_wav, codec, password=password,
                         answermode=answermode)
        self.transport = transport
        self.mediaenc = mediaenc
        self.rtp_ports = rtp_ports
        self.port = free_port_run(2)
        cfg = (self.dir / "config").read_text().splitlines()
        out = []
        for line in cfg:
            if line.startswith("sip_listen"):
                line = f"sip_listen\t\t127.0.0.1:{self.port}"
            out.append(line)
            if line.startswith("module\t\t\tg711.so") and mediaenc:
                out.append("module\t\t\tsrtp.so")
        if rtp_ports:
            out.append(f"rtp_ports\t\t{rtp_ports[0]}-{rtp_ports[1]}")
        (self.dir / "config").write_text("\n".join(out) + "\n")
        sip_port = pbx.tls_port if transport == "tls" else pbx.port
        acc = (f"<sip:{user}@127.0.0.1:{sip_port};transport={transport}>;auth_pass={password}"
               f";regint=600;audio_codecs={codec};answermode={answermode};ptime=20")
        if mediaenc:
            acc += f";mediaenc={mediaenc}"
        (self.dir / "accounts").write_text(acc + "\n")

    def start(self, quit_after=60):
        """As Baresip.start, with the SIP trace on (-s): the log shows the messages
        baresip sent and got, decrypted from TLS, SDP included."""
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(
                [siplib.tool("baresip"), "-s", "-f", str(self.dir), "-t", str(quit_after)],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True)
        return self

    def sdp_lines(self, prefix):
        """Every SDP line starting with @prefix (e.g. "m=audio") in the SIP trace."""
        return [ln.strip() for ln in self.log().splitlines() if ln.strip().startswith(prefix)]


# ---- capture ----------------------------------------------------------------------------------


class Capture:
    """dumpcap on lo with a BPF filter, in the background, for at most @limit seconds."""

    def __init__(self, workdir, bpf, name="rtp", limit=60):
        self.path = Path(workdir) / f"{name}.pcap"
        self.err = Path(workdir) / f"{name}-dumpcap.log"
        self.bpf = bpf
        with open(self.err, "wb") as f:
            self.proc = subprocess.Popen(
                ["dumpcap", "-q", "-i", "lo", "-f", bpf, "-w", str(self.path), "-P",
                 "-a", f"duration:{limit}"],
                stdin=subprocess.DEVNULL, stdout=f, stderr=subprocess.STDOUT,
                start_new_session=True)
        # dumpcap says "Capturing on 'Loopback: lo'" once the filter is set
        deadline = time.monotonic() + 10
        while "Capturing on" not in self.err.read_text(errors="replace"):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise AssertionError(f"dumpcap did not start capturing ({bpf}):\n"
                                     f"{self.err.read_text(errors='replace')}")
            time.sleep(0.05)

    def stop(self, timeout=10):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)

    def packets(self):
        """[(src port, dst port, rtp bytes)] of every UDP packet on lo (pcap, DLT_EN10MB)."""
        data = self.path.read_bytes()
        magic = struct.unpack("<I", data[:4])[0]
        assert magic in (0xA1B2C3D4, 0xA1B23C4D, 0xD4C3B2A1, 0x4D3CB2A1), \
            f"{self.path}: not a pcap file (magic {magic:#x})"
        endian = "<" if magic in (0xA1B2C3D4, 0xA1B23C4D) else ">"
        linktype = struct.unpack(endian + "I", data[20:24])[0]
        assert linktype == 1, f"{self.path}: link type {linktype}, expected Ethernet (1)"
        off = 24
        out = []
        while off + 16 <= len(data):
            incl = struct.unpack(endian + "I", data[off + 8:off + 12])[0]
            off += 16
            pkt = data[off:off + incl]
            off += incl
            if len(pkt) < 14 + 20 + 8 or struct.unpack("!H", pkt[12:14])[0] != 0x0800:
                continue
            ihl = (pkt[14] & 0x0F) * 4
            if pkt[14 + 9] != 17:
                continue
            u = 14 + ihl
            sport, dport = struct.unpack("!HH", pkt[u:u + 4])
            out.append((sport, dport, pkt[u + 8:]))
        return out


# ---- what the payloads carry ----------------------------------------------------------------


def rtp_audio(packets):
    """[(sport, dport, pt, payload)] of the G.711 RTP packets among @packets (RTCP and
    anything else left out). The payload is everything after the header, SRTP's
    authentication tag included (the first 160 bytes are the frame)."""
    out = []
    for sport, dport, d in packets:
        if len(d) < 12 or d[0] >> 6 != 2:
            continue
        pt = d[1] & 0x7F
        if pt not in PT_CODEC:
            continue
        hl = 12 + 4 * (d[0] & 0x0F)
        if d[0] & 0x10 and len(d) >= hl + 4:
            hl += 4 + 4 * struct.unpack("!H", d[hl + 2:hl + 4])[0]
        out.append((sport, dport, pt, d[hl:]))
    return out


def tone_packets(audio, freqs, share=0.6, frame=160, min_rms=300):
    """How many of @audio's payloads, decoded as G.711 (first @frame bytes), carry
    one of @freqs as at least @share of their energy; and how many were looked at."""
    hits = n = 0
    for _, _, pt, pl in audio:
        if len(pl) < frame:
            continue
        n += 1
        s = decode(PT_CODEC[pt], pl[:frame])
        if rms(s) < min_rms:
            continue
        if any(goertzel(s, f) >= share for f in freqs):
            hits += 1
    return hits, n


def leg(audio, ports):
    """The packets of @audio sent from or to a port in range @ports (lo, hi)."""
    lo, hi = ports
    return [a for a in audio if lo <= a[0] <= hi or lo <= a[1] <= hi]


def plain_frames(codec, freq, seconds=1.0):
    """Every 160-byte G.711 window of @seconds of the tone at @freq, at every sample
    offset: what a plain leg of that tone carries byte for byte."""
    samples = callib.tone(freq, seconds)
    enc = callib.encode(codec, samples)
    return {enc[i:i + 160] for i in range(0, len(enc) - 160)}


# ---- a call between two phones, and what it shows ------------------------------------------


def registered(p, b1, b2):
    try:
        siplib.wait_for(lambda: len(siplib.registrations(p)) == 2, 10,
                        "both baresips to register", interval=0.1)
    except AssertionError as e:
        raise AssertionError(f"{e}\n--- {b1.user}:\n{b1.log()[-2500:]}\n--- {b2.user}:\n"
                             f"{b2.log()[-2500:]}\n--- PBX:\n{p.log()[-3000:]}") from None


def talk(p, b1, b2):
    """b1 dials b2 (answering by itself); TALK seconds of audio; b1 hangs up.
    Returns the channels ({direction: channel}) seen while the call was up."""
    r = b1.command("dial", b2.user)
    assert r.get("ok", True), r
    chans = None

    def up():
        nonlocal chans
        chans = callib.channels(p)
        return len(chans) == 2 and all(c["state"] == "Up" and c["bridged_to"] for c in chans)

    try:
        siplib.wait_for(up, 10, "the call to be answered and bridged", interval=0.1)
        siplib.wait_for(lambda: "Call established" in b1.log(), 5,
                        f"{b1.user}: call established", interval=0.1)
    except AssertionError as e:
        raise AssertionError(f"{e}\nchannels: {chans}\n--- {b1.user}:\n{b1.log()[-3000:]}\n"
                             f"--- {b2.user}:\n{b2.log()[-3000:]}\n--- PBX:\n"
                             f"{p.log()[-4000:]}") from None
    time.sleep(TALK)
    # Seen again at the end of the talk, so the media counters cover it.
    chans = callib.channels(p)
    b1.command("hangup")
    callib.wait_channels(p, 0, what=f"no channel left after {b1.user} hung up")
    siplib.wait_for(lambda: "terminated" in b2.log(), 5, f"{b2.user} to see the BYE",
                    interval=0.1)
    b1.stop()
    b2.stop()
    return {c["direction"]: c for c in chans}


def check_heard(b, theirs, mine):
    recs = b.recordings("dec")
    assert len(recs) == 1, f"{b.user}: recordings {recs}\n{b.log()[-3000:]}"
    rate, samples = read_wav(recs[0])
    assert rate == 8000
    heard = tone_seconds(samples, theirs, rate)
    assert heard >= TALK - 1.0, \
        (f"{b.user} heard {heard:.1f}s of the other phone's {theirs} Hz in a "
         f"{len(samples) / rate:.1f}s recording: {callib.tone_windows(samples, theirs)[:20]}"
         f"\n{b.log()[-3000:]}")
    assert tone_seconds(samples, mine, rate, share=0.2) == 0, \
        f"{b.user} hears its own {mine} Hz tone"
    # The level: the tone's RMS as sent (its amplitude over sqrt 2), within 3 dB. G.711
    # and a relay keep it to a fraction of a dB; a gain or a mix would show.
    levels = sorted(r for r, g in callib.tone_windows(samples, theirs, rate) if g >= 0.6)
    level = levels[len(levels) // 2]
    sent = TONE_AMPLITUDE / math.sqrt(2)
    assert 0.7 * sent <= level <= 1.4 * sent, \
        f"{b.user} heard the {theirs} Hz tone at RMS {level:.0f}, sent at {sent:.0f}"
    print(f"\n{b.user} heard {theirs} Hz for {heard:.1f}s at RMS {level:.0f} (sent {sent:.0f})")


FRAMES = None


def exact_matches(audio):
    """How many payloads' first 160 bytes equal a u-law frame of either tone."""
    global FRAMES
    if FRAMES is None:
        FRAMES = plain_frames("PCMU", F_CALLER) | plain_frames("PCMU", F_CALLEE)
    return sum(1 for *_, pt, pl in audio if pt == 0 and pl[:160] in FRAMES)


def check_leg(audio, ports, encrypted, what):
    """The wire check of one phone's leg (packets from or to @ports)."""
    pkts = leg(audio, ports)
    hits, n = tone_packets(pkts, (F_CALLER, F_CALLEE))
    exact = exact_matches(pkts)
    # both directions of TALK seconds at 50 packets a second, give or take
    assert n >= 2 * 50 * (TALK - 1.0), \
        f"{what}: only {n} G.711-sized RTP packets captured on phone ports {ports}"
    lens = sorted({len(a[3]) for a in pkts})
    if encrypted:
        assert hits == 0 and exact == 0, \
            (f"{what}: SRTP leg, yet {hits} of {n} payloads decode to a tone and {exact} "
             f"equal a plain G.711 frame of it (payload lengths {lens})")
        assert all(len(a[3]) > 160 for a in pkts), \
            f"{what}: SRTP payloads carry an authentication tag; lengths seen {lens}"
    else:
        assert hits >= 0.8 * n and exact >= 0.8 * n, \
            (f"{what}: plain leg, yet only {hits} of {n} payloads decode to a tone and "
             f"{exact} equal a G.711 frame of it ({lens})")
    print(f"\n{what}: hits={hits} n={n} exact={exact} lens={lens}")
    return hits, n, exact


def check_sdp(b, encrypted):
    """Every audio stream in @b's SIP trace (its offers and answers, and the PBX's)
    is RTP/SAVP with a=crypto when @encrypted, RTP/AVP without a=crypto when not."""
    ms = b.sdp_lines("m=audio")
    cr = b.sdp_lines("a=crypto:")
    assert len(ms) >= 2, f"{b.user}: no offer/answer in the SIP trace: {ms}\n{b.log()[-3000:]}"
    if encrypted:
        assert all(" RTP/SAVP " in m for m in ms) and cr, \
            f"{b.user} (SRTP): SDP streams {ms}, crypto lines {cr}"
    else:
        assert all(" RTP/AVP " in m for m in ms) and not cr, \
            f"{b.user} (plain): SDP streams {ms}, crypto lines {cr}"


def check_ports(p, chans):
    """The PBX's legs point at the phones' own RTP ranges ("in" at 1001's, "out" at
    1002's): what lets the capture be split by leg."""
    for d, rng in (("in", p.phone_ranges[0]), ("out", p.phone_ranges[1])):
        m = re.search(r"127\.0\.0\.1:(\d+)", chans[d]["media"])
        assert m and rng[0] <= int(m.group(1)) <= rng[1], \
            f"{d} leg's media {chans[d]['media']!r} not in the phone's RTP range {rng}"


def srtp_suite(media):
    m = re.search(r"SRTP (\S+)", media or "")
    return m and m.group(1)


__all__ = ["SrtpBaresip", "Capture", "rtp_audio", "tone_packets", "leg", "plain_frames",
           "free_port_run", "F_CALLER", "F_CALLEE", "TALK", "registered", "talk", "check_heard",
           "exact_matches", "check_leg", "check_sdp", "check_ports", "srtp_suite"]
