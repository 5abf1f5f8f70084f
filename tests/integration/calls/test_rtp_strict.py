"""Strict RTP and bad media input on a real call, on the shipped config.

Two raw SIP phones (callib.Phone) call each other through the shipped
etc/pbx.lua and etc/extensions.lua (rtp.strict_rtp at its default, true).
A third socket, which is no party to the call, sends RTP to the PBX's
media port of the caller's leg while the caller talks: none of its
packets may reach the callee, and the strict-RTP drop counter of that
leg (`core show channels --json`) and of the PBX (`rtp show stats
--json`) counts each one. Then the caller sends malformed RTP and a
truncated RTCP report: counted, dropped, and the call still relays.

Which packets reached the callee is told by their payload: the caller's
are bytes of PAYLOAD_A, the stranger's of PAYLOAD_F (the PBX relays
G.711 between two PCMU legs byte for byte and puts its own SSRC on them).
"""

import json
import struct
import time

import callib
from test_calls_media import establish

PAYLOAD_A = bytes([0x11]) * 160
PAYLOAD_F = bytes([0x66]) * 160
ROUNDS = 25


def rtp(pt, seq, ssrc, payload, first=0x80):
    return struct.pack("!BBHII", first, pt, seq & 0xFFFF, (seq * 160) & 0xFFFFFFFF,
                       ssrc) + payload


def leg_of(p, direction):
    return next(c for c in callib.channels(p) if c["direction"] == direction)


def wait_counter(p, direction, field, want, what):
    """The channel's JSON once @field reaches @want (the media worker counts as it reads)."""
    return callib.siplib.wait_for(
        lambda: (c := leg_of(p, direction))[field] >= want and c, 5,
        f"{what}: {field} of the {direction} leg to reach {want}", interval=0.1)


def test_foreign_rtp_dropped_and_bad_packets_counted(shipped_pbx, phone):
    p = shipped_pbx()
    a, b, ca, cb = establish(p, phone, caller_codecs=("PCMU",), callee_codecs=("PCMU",))
    pbx_media = ca.rtp.peer  # the PBX's RTP address of the caller's leg
    stranger = callib.Rtp()
    try:
        # The caller's first packets latch its leg (sent until one arrives:
        # the leg may not have its SDP yet when the first leaves).
        seq_a, seq_f = 1000, 7000
        deadline = time.monotonic() + 5
        while not cb.rtp.count(0) and time.monotonic() < deadline:
            seq_a += 1
            ca.rtp.send_raw(rtp(0, seq_a, 0xA0A0A0A0, PAYLOAD_A), pbx_media)
            time.sleep(0.02)
        cb.rtp.wait_packets(1, 0, what="the caller's first packet at the callee")
        time.sleep(0.1)
        dropped_before = leg_of(p, "in")["rx_dropped"]
        # Then each 20 ms one of
        # its packets and two of the stranger's (another address, another
        # SSRC). Never four of the stranger's in a row, and the caller
        # never quiet: by the rules in rtp.c it can never take over, however
        # the machine schedules these sends.
        t0 = time.monotonic()
        for _ in range(ROUNDS):
            seq_a += 1
            ca.rtp.send_raw(rtp(0, seq_a, 0xA0A0A0A0, PAYLOAD_A), pbx_media)
            for _ in range(2):
                seq_f += 1
                stranger.send_raw(rtp(0, seq_f, 0xF0F0F0F0, PAYLOAD_F), pbx_media)
            time.sleep(0.02)
        got = cb.rtp.wait_packets(ROUNDS, 0, t0, what="the caller's packets at the callee")
        time.sleep(0.3)  # anything of the stranger's still on its way
        got = cb.rtp.received(0, t0)
        assert all(pk[7] == PAYLOAD_A for pk in got), \
            f"{sum(pk[7] == PAYLOAD_F for pk in got)} of the stranger's packets were relayed"
        assert len(got) == ROUNDS, len(got)
        assert stranger.count() == 0, "the PBX sent media to the stranger"

        leg = wait_counter(p, "in", "strict_dropped", 2 * ROUNDS, "strict RTP")
        assert leg["strict_dropped"] == 2 * ROUNDS, leg
        assert leg["malformed"] == 0, leg
        assert leg["rx_dropped"] == dropped_before + 2 * ROUNDS, leg
        totals = json.loads(p.ok("rtp show stats --json"))
        assert totals["strict_dropped"] == 2 * ROUNDS, totals
        assert totals["sessions"] == 2, totals

        # Malformed RTP from the caller's own socket: not version 2, shorter
        # than a header, a payload type nobody negotiated (101 is DTMF here),
        # padding longer than the packet, CSRCs past the end; and a short one
        # from the stranger (malformed first: it is no strict-RTP drop).
        bad = [rtp(0, 1, 0xA0A0A0A0, PAYLOAD_A, first=0x40),
               b"\x80\x00\x00\x01\x00",
               rtp(99, 2, 0xA0A0A0A0, PAYLOAD_A),
               rtp(0, 3, 0xA0A0A0A0, PAYLOAD_A[:-1] + b"\xff", first=0xA0),
               rtp(0, 4, 0xA0A0A0A0, b"", first=0x8F)]
        for pkt in bad:
            ca.rtp.send_raw(pkt, pbx_media)
        stranger.send_raw(b"\x80\x00", pbx_media)
        # RTCP on the odd port: a receiver report, then the same cut to 4 bytes.
        rr = struct.pack("!BBHI", 0x80, 201, 1, 0xA0A0A0A0)
        rtcp = (pbx_media[0], pbx_media[1] + 1)
        ca.rtp.send_raw(rr, rtcp)
        ca.rtp.send_raw(rr[:4], rtcp)
        leg = wait_counter(p, "in", "malformed", len(bad) + 1, "malformed RTP")
        assert leg["malformed"] == len(bad) + 1, leg
        assert leg["strict_dropped"] == 2 * ROUNDS, leg
        leg = wait_counter(p, "in", "rtcp_packets", 2, "RTCP")
        assert leg["rtcp_malformed"] == 1, leg

        # The call still relays, both ways.
        t1 = time.monotonic()
        for _ in range(10):
            seq_a += 1
            ca.rtp.send_raw(rtp(0, seq_a, 0xA0A0A0A0, PAYLOAD_A), pbx_media)
            cb.rtp.send_raw(rtp(0, seq_a, 0xB0B0B0B0, PAYLOAD_F))
            time.sleep(0.02)
        got = cb.rtp.wait_packets(10, 0, t1, what="the caller's packets after the bad ones")
        assert all(pk[7] == PAYLOAD_A for pk in got), "something else reached the callee"
        ca.rtp.wait_packets(10, 0, t1, what="the callee's packets at the caller")

        text = p.ok("rtp show stats")
        assert f"from a source not latched      : {2 * ROUNDS} " in text, text
        assert ca.bye().status == 200
        cb.wait_bye()
        callib.wait_channels(p, 0)
        # Totals keep what the closed legs counted.
        totals = callib.siplib.wait_for(
            lambda: (t := json.loads(p.ok("rtp show stats --json")))["sessions"] == 0 and t, 5,
            "the legs' sessions to close", interval=0.1)
        assert totals["strict_dropped"] == 2 * ROUNDS, totals
        assert totals["malformed"] == len(bad) + 1, totals
        assert totals["rtcp_malformed"] == 1, totals
        assert totals["rx_dropped"] >= 2 * ROUNDS + len(bad) + 1, totals
    finally:
        stranger.close()
