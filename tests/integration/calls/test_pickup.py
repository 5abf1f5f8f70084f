"""Directed pickup on the shipped config and dialplan: while 1003's call
rings at 1002, 1001 dials **1002 and gets the call. 1001 is answered, the
ringing phone gets CANCEL, and 1001 and 1003 hear each other (tones
measured). With nothing ringing there, Pickup says FAILED and the script
goes on: the shipped dialplan then ends the call, never answered.
"""

import time


import callib
from callib import tone, tone_seconds

F_PICKER, F_CALLER = 1000, 1400


USERS = ("1001", "1002", "1003")


def test_pickup_takes_the_ringing_call(shipped_pbx, phone):
    p = shipped_pbx(users=USERS)
    picker, ringing, caller = (phone(p, e) for e in ("1001", "1002", "1003"))
    c3 = caller.call("1002", codecs=("PCMU",))
    c2 = ringing.incoming()
    c2.ring()
    callib.siplib.wait_for(lambda: any(c["state"] == "Ringing" for c in callib.channels(p)), 5,
                           "1002 to ring", interval=0.1)
    c1 = picker.call("**1002", codecs=("PCMU",))
    c1.established()
    c3.established()
    c2.wait_request("CANCEL")
    c1.rtp.start_stream("PCMU", tone(F_PICKER, 1.0))
    c3.rtp.start_stream("PCMU", tone(F_CALLER, 1.0))
    time.sleep(2.0)
    t = time.monotonic() - 1.5
    assert tone_seconds(c3.rtp.audio("PCMU", since=t), F_PICKER) >= 1.0, "the caller hears 1001"
    assert tone_seconds(c1.rtp.audio("PCMU", since=t), F_CALLER) >= 1.0, "1001 hears the caller"
    c1.bye()
    c3.wait_bye()
    callib.wait_channels(p, 0)


def test_pickup_with_nothing_ringing_fails(shipped_pbx, phone):
    p = shipped_pbx(users=USERS)
    c1 = phone(p, "1001").call("**1002", codecs=("PCMU",))
    r = c1.final()
    # Never answered: the script ends after Pickup fails, and the call with it.
    assert r.status >= 400, r.text()
    c1.ack_failure(r)
    callib.wait_channels(p, 0)
