"""Voicemail mail notification: a message left by a real call is mailed to
the user's email through a local SMTP server (Python's aiosmtpd, Debian's
python3-aiosmtpd), with the subject as templated and the WAV attached, its
tone measured. With the server down the mail waits in `voicemail show
queue` with the error, and arrives on a retry once the server is up; a
restart keeps it (the queue is saved in pbx.db) unless its message was
deleted meanwhile.

1001 is a raw SIP phone (callib.Phone) that calls 1003, whose dialplan
goes straight to app.voicemail("1003", "u"); it sends a 600 Hz tone
through the greeting and the recording, then hangs up.
"""

import email
import email.policy
import json
import re
import threading
import time

from aiosmtpd.controller import Controller

import callib
import siplib
from callib import PASSWORD, read_wav, tone, tone_seconds
from pbxlib import free_port

DIALPLAN = r'''
extensions = {
  default = {
    ["_1XXX"] = function(context, exten)
      app.voicemail(exten, "u")
    end,
  },
}
'''

FROM = "PBX Voicemail <vm@pbx.test>"
SUBJECT = "VM ${VM_MSGNUM} for ${VM_NAME} (${VM_MAILBOX}) from ${VM_CIDNUM}"
BODY = "Hello ${VM_NAME},\n${VM_CALLERID} left ${VM_DUR} on ${VM_DATE}.\n"
RCPT = "carol@example.com"
TONE_HZ = 600
# How long the caller talks once the recording has started (after the greeting and beep).
TALK_SECONDS = 5


class Mailbox:
    """An aiosmtpd handler that keeps every envelope it is given."""

    def __init__(self):
        self.envelopes = []
        self.lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):
        with self.lock:
            self.envelopes.append(envelope)
        return "250 OK"

    def got(self):
        with self.lock:
            return list(self.envelopes)


def smtp_server(port):
    """A started aiosmtpd on 127.0.0.1:@port; stop it with .stop()."""
    box = Mailbox()
    ctl = Controller(box, hostname="127.0.0.1", port=port)
    ctl.start()
    ctl.box = box
    return ctl


def vm_pbx(pbx_factory, smtp_port, **email_cfg):
    """A started PBX with the voicemail dialplan, users 1001 and 1003, and mail to @smtp_port."""
    cfg = {"server": "127.0.0.1", "port": smtp_port, "security": "none", "from": FROM,
           "subject": SUBJECT, "body": BODY}
    cfg.update(email_cfg)
    p = pbx_factory(sections={"sip": {"qualify_interval": 0},
                              "rtp": {"port_min": 20000, "port_max": 24999},
                              "voicemail": {"email": cfg}})
    p.dialplan = p.dir / "extensions.lua"
    p.dialplan.write_text(DIALPLAN)
    p.sections["dialplan"] = {"file": str(p.dialplan)}
    p.write_config()
    p.start()
    siplib.wait_answering(p)
    siplib.add_users(p, ("1001", "1003"), PASSWORD)
    p.ok("user set 1003 name Carol")
    p.ok(f"user set 1003 email {RCPT}")
    return p


def leave_message(p, phone):
    """1001 calls 1003, talks a 600 Hz tone, hangs up: (message id, path of its WAV)."""
    a = phone(p, "1001")
    c = a.call("1003", codecs=("PCMU",))
    c.established()
    c.rtp.start_stream("PCMU", tone(TONE_HZ, 1.0))
    callib.wait_log(p, r"VoiceMail\(1003\): recording a message", timeout=15)
    time.sleep(TALK_SECONDS)
    c.rtp.stop_stream()
    c.bye()
    callib.wait_channels(p, 0)
    m = callib.wait_log(p, r"voicemail 1003: message (\d+) from 1001", timeout=10)
    msg_id = int(m.group(1))
    files = sorted((p.state_dir / "voicemail" / "1003" / "INBOX").glob("msg*.wav"))
    assert len(files) == 1, f"{files}; log:\n{p.log()[-3000:]}"
    path = files[0]
    return msg_id, path


def queue(p):
    return json.loads(p.ok("voicemail show queue --json"))


def check_mail(p, envelope, msg_id, path):
    assert envelope.mail_from == "vm@pbx.test"
    assert envelope.rcpt_tos == [RCPT]
    m = email.message_from_bytes(envelope.original_content, policy=email.policy.default)
    assert not m.defects, m.defects
    assert str(m["subject"]) == "VM 1 for Carol (1003) from 1001", m["subject"]
    assert str(m["from"]) == FROM
    assert str(m["to"]) == RCPT
    assert m["date"] and m["message-id"]
    body = m.get_body(("plain",)).get_content()
    assert body.startswith("Hello Carol,"), body
    assert re.search(r"left \d+:\d\d on ", body), body
    atts = list(m.iter_attachments())
    assert len(atts) == 1, [a.get_content_type() for a in atts]
    att = atts[0]
    assert att.get_content_type() == "audio/wav"
    assert att.get_filename() == path.name
    data = att.get_payload(decode=True)
    assert data == path.read_bytes(), "the attachment is not the stored message"
    wav = p.dir / "mailed.wav"
    wav.write_bytes(data)
    rate, samples = read_wav(wav)
    heard = tone_seconds(samples, TONE_HZ, rate)
    assert heard >= 3.0, f"{TONE_HZ} Hz for {heard:.1f} s of {len(samples) / rate:.1f} s: " \
                         f"{callib.tone_windows(samples, TONE_HZ, rate)[:30]}"


def test_mail_with_the_message_attached(pbx_factory, phone):
    port = free_port()
    smtp = smtp_server(port)
    try:
        p = vm_pbx(pbx_factory, port)
        msg_id, path = leave_message(p, phone)
        siplib.wait_for(smtp.box.got, 10, "the mail at the SMTP server")
        callib.wait_log(p, rf"mail \d+ for message {msg_id} of 1003 sent to {RCPT}")
        got = smtp.box.got()
        assert len(got) == 1
        check_mail(p, got[0], msg_id, path)
        assert queue(p) == []
        assert "0 pending mails" in p.ok("voicemail show queue")
    finally:
        smtp.stop()


def test_mail_retried_until_the_server_is_up(pbx_factory, phone):
    port = free_port()  # nothing listens there yet
    p = vm_pbx(pbx_factory, port, retry_seconds=1)
    msg_id, path = leave_message(p, phone)

    # The first try fails: the mail waits in the queue with the error.
    def failed():
        q = queue(p)
        return q if q and q[0]["tries"] >= 1 and q[0]["last_error"] else None
    q = siplib.wait_for(failed, 10, "a failed try in `voicemail show queue`")
    assert len(q) == 1, q
    assert q[0]["mailbox"] == "1003" and q[0]["recipient"] == RCPT
    assert q[0]["message"] == msg_id
    assert "connect" in q[0]["last_error"].lower(), q[0]
    text = p.ok("voicemail show queue")
    assert re.search(rf"^\d+\s+1003\s+{msg_id}\s+{re.escape(RCPT)}\s+\d+\s", text, re.M), text
    assert "1 pending mail" in text
    callib.wait_log(p, r"voicemail: mail \d+ to carol@example.com failed \(try 1 of \d+\)")
    assert path.exists(), "a failed mail touched the message"

    smtp = smtp_server(port)
    try:
        # Retries double from 1 s: whatever try we are at, the next is seconds away.
        siplib.wait_for(smtp.box.got, 20, "the retried mail at the SMTP server")
        got = smtp.box.got()
        assert len(got) == 1
        check_mail(p, got[0], msg_id, path)
        siplib.wait_for(lambda: queue(p) == [], 5, "the queue to empty")
    finally:
        smtp.stop()
    assert path.exists()


def failed_try(p):
    """The queue once its one mail has failed a try (connection refused), waited for."""
    def failed():
        q = queue(p)
        return q if q and q[0]["tries"] >= 1 and q[0]["last_error"] else None
    return siplib.wait_for(failed, 10, "a failed try in `voicemail show queue`")


def test_pending_mail_survives_a_restart(pbx_factory, phone):
    port = free_port()  # nothing listens there yet
    p = vm_pbx(pbx_factory, port, retry_seconds=1)
    msg_id, path = leave_message(p, phone)
    before = failed_try(p)
    assert len(before) == 1, before
    mail_id = before[0]["id"]
    p.stop()
    assert re.search(r"voicemail: 1 pending mail kept for the next start", p.log()), \
        p.log()[-3000:]

    p.start()
    callib.wait_log(p, r"voicemail: 1 pending mail from before the restart queued")
    q = queue(p)
    assert len(q) == 1, q
    assert q[0]["id"] == mail_id
    assert q[0]["message"] == msg_id and q[0]["mailbox"] == "1003"
    assert q[0]["recipient"] == RCPT
    assert q[0]["tries"] >= before[0]["tries"]
    assert "connect" in q[0]["last_error"].lower(), q[0]
    text = p.ok("voicemail show queue")
    assert re.search(rf"^{mail_id}\s+1003\s+{msg_id}\s+{re.escape(RCPT)}\s+\d+\s", text,
                     re.M), text
    assert "1 pending mail" in text

    smtp = smtp_server(port)
    try:
        siplib.wait_for(smtp.box.got, 20, "the mail queued before the restart at the server")
        got = smtp.box.got()
        assert len(got) == 1
        # Made again from the message: the same subject (VM_MSGNUM kept), body and WAV.
        check_mail(p, got[0], msg_id, path)
        siplib.wait_for(lambda: queue(p) == [], 5, "the queue to empty")
    finally:
        smtp.stop()
    # Sent, the mail is gone from the database too: the next start has nothing to send.
    p.stop()
    p.start()
    assert queue(p) == []
    assert "from before the restart" not in p.log()


def test_restart_drops_a_mail_whose_message_is_gone(pbx_factory, phone):
    port = free_port()  # nothing listens there
    p = vm_pbx(pbx_factory, port, retry_seconds=1)
    msg_id, path = leave_message(p, phone)
    failed_try(p)
    p.ok("voicemail delete 1003 1")
    p.stop()
    p.start()
    callib.wait_log(p, rf"voicemail: mail \d+ for message {msg_id} of 1003 to {re.escape(RCPT)} "
                       r"dropped: the message no longer exists")
    assert queue(p) == []


def test_show_queue_when_mail_is_off(pbx):
    assert "Mail notification is off" in pbx.ok("voicemail show queue")
    assert json.loads(pbx.ok("voicemail show queue --json")) == []
