"""SIPp UAC -> PBX -> SIPp UAS, with RTP played from a pcap.

The UAS (1002) registers first with ../sip/scenarios/register_auth.xml
from the port it then listens on as UAS: the PBX sends INVITEs to where a
REGISTER came from. The UAC (1001) answers the PBX's 401 with SIPp's
[authentication] and, once answered, plays SIPp's g711a.pcap (PCMA, 30 ms
packets) from its media port with <exec play_pcap_audio>.

SIPp's UAS answers with an SDP that points the media at a socket of this
test (callib.Rtp), so what the PBX relays can be compared with the pcap
payload by payload: byte for byte when the UAS leg is PCMA too (relay),
sample by sample within G.711 quantisation when it is PCMU (transcoded).

Both scenarios are written here (scenario() below); the BYE comes from the
UAC in one run and from the UAS in the other, and each SIPp must see its
scenario through (exit status 0): the BYE, its 200, every message in order.
play_pcap_audio sends through a raw socket, so SIPp needs CAP_NET_RAW
(the test runs as root, as .ci does).
"""

from pathlib import Path

import pytest

import callib
from callib import Sipp, free_port_pair, read_pcap_rtp, sipp_cmd

REGISTER_XML = Path(__file__).resolve().parent.parent / "sip" / "scenarios" / "register_auth.xml"
PCAP = callib.SIPP_PCAP_DIR / "g711a.pcap"
TALK_MS = 2500   # how long the call lasts before the BYE


def uac_xml(bye_from_uac):
    invite = """
  <send retrans="500"{txn}>
    <![CDATA[

      INVITE sip:[service]@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: <sip:1001@[domain]>;tag=[pid]SIPpTag00[call_number]
      To: <sip:[service]@[domain]>
      Call-ID: [call_id]
      CSeq: {cseq} INVITE
      Contact: <sip:1001@[local_ip]:[local_port]>
      Max-Forwards: 70
      {auth}
      Content-Type: application/sdp
      Content-Length: [len]

      v=0
      o=sipp 53655765 2353687637 IN IP[local_ip_type] [local_ip]
      s=-
      c=IN IP[media_ip_type] [media_ip]
      t=0 0
      m=audio [media_port] RTP/AVP 8
      a=rtpmap:8 PCMA/8000
      a=ptime:30

    ]]>
  </send>
"""
    ack = """
  <send{attr}>
    <![CDATA[

      ACK {ruri} SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch={branch}
      From: <sip:1001@[domain]>;tag=[pid]SIPpTag00[call_number]
      To: <sip:[service]@[domain]>[peer_tag_param]
      Call-ID: [call_id]
      CSeq: {cseq} ACK
      Max-Forwards: 70
      Content-Length: 0

    ]]>
  </send>
"""
    if bye_from_uac:
        end = f"""
  <pause milliseconds="{TALK_MS}"/>
  <send retrans="500">
    <![CDATA[

      BYE [next_url] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: <sip:1001@[domain]>;tag=[pid]SIPpTag00[call_number]
      To: <sip:[service]@[domain]>[peer_tag_param]
      Call-ID: [call_id]
      CSeq: 3 BYE
      Max-Forwards: 70
      Content-Length: 0

    ]]>
  </send>
  <recv response="200" crlf="true"/>
"""
    else:
        end = """
  <recv request="BYE" timeout="15000"/>
  <send>
    <![CDATA[

      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:]
      [last_Call-ID:]
      [last_CSeq:]
      Content-Length: 0

    ]]>
  </send>
"""
    return f"""<?xml version="1.0" encoding="ISO-8859-1" ?>
<!DOCTYPE scenario SYSTEM "sipp.dtd">
<scenario name="UAC: INVITE with digest auth, pcap audio, BYE">
{invite.format(txn=' start_txn="invite"', cseq=1, auth="")}
  <recv response="100" optional="true" response_txn="invite"/>
  <recv response="401" auth="true" response_txn="invite"/>
{ack.format(attr=' ack_txn="invite"', ruri="sip:[service]@[remote_ip]:[remote_port]", cseq=1,
             branch="[branch-3]")}
{invite.format(txn="", cseq=2,
               auth="[authentication username=1001 password=" + callib.PASSWORD + "]")}
  <recv response="100" optional="true"/>
  <recv response="180" optional="true"/>
  <recv response="183" optional="true"/>
  <recv response="200" rrs="true"/>
{ack.format(attr="", ruri="[next_url]", cseq=2, branch="[branch]")}
  <nop>
    <action>
      <exec play_pcap_audio="{PCAP}"/>
    </action>
  </nop>
{end}
  <timewait milliseconds="500"/>
</scenario>
"""


def uas_xml(bye_from_uas, codec, rtp_port):
    pt = callib.CODEC_PT[codec]
    head = """
      [last_Via:]
      [last_From:]
      [last_To:];tag=[pid]SIPpTag01[call_number]
      [last_Call-ID:]
      [last_CSeq:]
      Contact: <sip:1002@[local_ip]:[local_port]>"""
    ack = """
  <recv request="ACK" crlf="true"/>"""
    if bye_from_uas:
        # The BYE's From and To are the ACK's To and From.
        ack = """
  <recv request="ACK" crlf="true">
    <action>
      <ereg regexp="[^ ].*" search_in="hdr" header="From:" assign_to="remote"/>
      <ereg regexp="[^ ].*" search_in="hdr" header="To:" assign_to="local"/>
    </action>
  </recv>"""
        end = f"""
  <pause milliseconds="{TALK_MS}"/>
  <send retrans="500">
    <![CDATA[

      BYE [next_url] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: [$local]
      To: [$remote]
      Call-ID: [call_id]
      CSeq: 1 BYE
      Max-Forwards: 70
      Content-Length: 0

    ]]>
  </send>
  <recv response="200" crlf="true"/>
"""
    else:
        end = """
  <recv request="BYE" timeout="15000"/>
  <send>
    <![CDATA[

      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:]
      [last_Call-ID:]
      [last_CSeq:]
      Content-Length: 0

    ]]>
  </send>
"""
    return f"""<?xml version="1.0" encoding="ISO-8859-1" ?>
<!DOCTYPE scenario SYSTEM "sipp.dtd">
<scenario name="UAS: ring, answer with media to a test socket, BYE">
  <recv request="INVITE" crlf="true" rrs="true"/>
  <send>
    <![CDATA[

      SIP/2.0 180 Ringing{head}
      Content-Length: 0

    ]]>
  </send>
  <send retrans="500">
    <![CDATA[

      SIP/2.0 200 OK{head}
      Content-Type: application/sdp
      Content-Length: [len]

      v=0
      o=sipp 53655799 2353687699 IN IP4 127.0.0.1
      s=-
      c=IN IP4 127.0.0.1
      t=0 0
      m=audio {rtp_port} RTP/AVP {pt}
      a=rtpmap:{pt} {codec}/8000
      a=ptime:30

    ]]>
  </send>
{ack}
{end}
  <timewait milliseconds="500"/>
</scenario>
"""


def sipp_register(p, workdir, ext, port, mport):
    users = workdir / "register.csv"
    users.write_text("SEQUENTIAL\n"
                     f"{ext};{callib.PASSWORD};[authentication username={ext} "
                     f"password={callib.PASSWORD}]\n")
    s = Sipp(sipp_cmd(p, REGISTER_XML, port, mport, "-inf", str(users), timeout=10,
                      workdir=workdir, name="register"), workdir, "register")
    rc = s.wait(20)
    assert rc == 0, f"SIPp REGISTER of {ext} exited {rc}\n{s.detail()}"


def sipp_call(p, workdir, uas_file, uac_file, uas_ports, uac_ports, extra=()):
    """Run the UAS scenario, then the UAC's call to 1002 through the PBX;
    both must end with status 0. @extra: SIPp options for both (-aa)."""
    uas = Sipp(sipp_cmd(p, uas_file, *uas_ports, *extra, timeout=25, workdir=workdir,
                        name="uas"), workdir, "uas")
    try:
        callib.wait_udp_bound(uas_ports[0])
        uac = Sipp(sipp_cmd(p, uac_file, *uac_ports, *extra, timeout=25, service="1002",
                            workdir=workdir, name="uac"), workdir, "uac")
        try:
            rc_uac = uac.wait(35)
            rc_uas = uas.wait(10)
        finally:
            uac.kill()
    finally:
        uas.kill()
    assert rc_uac == 0, f"SIPp UAC exited {rc_uac}\n{uac.detail()}"
    assert rc_uas == 0, f"SIPp UAS exited {rc_uas}\n{uas.detail()}"


def sipp_messages(workdir, name):
    f = workdir / f"sipp-{name}-messages.log"
    return f.read_text(errors="replace") if f.exists() else ""


@pytest.mark.parametrize("bye_from,uas_codec", [("uac", "PCMA"), ("uas", "PCMU")])
def test_sipp_uac_to_sipp_uas_with_pcap_audio(call_pbx, tmp_path, bye_from, uas_codec):
    p = call_pbx()
    uas_port, uas_mport = free_port_pair(), free_port_pair()
    uac_port, uac_mport = free_port_pair(), free_port_pair()
    sipp_register(p, tmp_path, "1002", uas_port, uas_mport)
    regs = callib.siplib.contacts_of(p, 1002)
    assert [r["source"] for r in regs] == [f"udp:127.0.0.1:{uas_port}"], regs

    rx = callib.Rtp()
    try:
        uas_file = tmp_path / "uas.xml"
        uas_file.write_text(uas_xml(bye_from == "uas", uas_codec, rx.port))
        uac_file = tmp_path / "uac.xml"
        uac_file.write_text(uac_xml(bye_from == "uac"))
        sipp_call(p, tmp_path, uas_file, uac_file, (uas_port, uas_mport), (uac_port, uac_mport))

        # On the wire: the PBX offered both G.711 laws to the UAS, and
        # answered the UAC's PCMA offer with PCMA.
        uas_msgs = sipp_messages(tmp_path, "uas")
        assert "a=rtpmap:0 PCMU/8000" in uas_msgs and "a=rtpmap:8 PCMA/8000" in uas_msgs, \
            uas_msgs[:3000]
        uac_msgs = sipp_messages(tmp_path, "uac")
        assert "SIP/2.0 401" in uac_msgs and "SIP/2.0 200 OK" in uac_msgs
        assert "a=rtpmap:8 PCMA/8000" in uac_msgs.split("SIP/2.0 200 OK", 1)[1], uac_msgs

        # In the audio: what the UAC played is what the UAS's socket got.
        sent = [pl for pt, pl in read_pcap_rtp(PCAP)]
        got = rx.received()
        assert len(got) >= 40, f"only {len(got)} RTP packets reached the UAS side"
        pts = {g[2] for g in got}
        assert pts == {callib.CODEC_PT[uas_codec]}, f"payload types {pts} for {uas_codec}"
        assert len({g[6] for g in got}) == 1, "more than one SSRC toward the UAS"
        payloads = [g[7] for g in got]
        assert all(len(pl) == 240 for pl in payloads), {len(pl) for pl in payloads}
        if uas_codec == "PCMA":
            # Relay: the very bytes of the pcap, in order, none lost or reordered.
            start = sent.index(payloads[0])
            assert start <= 3, f"the first {start} packets of the pcap were lost"
            assert payloads == sent[start:start + len(payloads)], "payloads differ from the pcap"
        else:
            # Transcoded A-law -> u-law: the same signal within G.711 quantisation.
            ref = [s for pl in sent for s in callib.decode("PCMA", pl)]
            out = [s for pl in payloads for s in callib.decode("PCMU", pl)]
            start = None
            for off in range(0, 4 * 240, 240):
                seg = ref[off:off + len(out)]
                if len(seg) == len(out) and all(abs(a - b) <= max(64, abs(a) // 12)
                                                for a, b in zip(seg, out)):
                    start = off
                    break
            worst = max(abs(a - b) for a, b in zip(ref, out))
            assert start is not None, f"transcoded audio does not match (worst diff {worst})"
        # Sequence numbers and timestamps toward the UAS advance as the pcap's did.
        seqs = [g[4] for g in got]
        assert all((b - a) & 0xFFFF == 1 for a, b in zip(seqs, seqs[1:])), seqs[:20]
        tss = [g[5] for g in got]
        assert all((b - a) & 0xFFFFFFFF == 240 for a, b in zip(tss, tss[1:])), tss[:20]
    finally:
        rx.close()

    callib.wait_channels(p, 0, what="no channel left after the BYE")
    callib.wait_log(p, r"HANGUP HANDLER DIALSTATUS=ANSWER")
