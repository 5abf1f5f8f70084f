"""Helpers for the end-to-end SRTP tests (test_srtp_e2e.py): a baresip 1.0
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

Everything is bounded: dumpcap has its own duration limit besides ours.
"""

import os
import signal
import socket
import struct
import subprocess
import time
from pathlib import Path

import callib
import siplib
from callib import PT_CODEC, Baresip, decode, goertzel, rms


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


__all__ = ["SrtpBaresip", "Capture", "rtp_audio", "tone_packets", "leg", "plain_frames",
           "free_port_run"]
