#!/usr/bin/env bash
# Make the prompts under sounds/: 16 kHz mono 16-bit WAV, spoken by espeak-ng
# and converted by sox (Debian packages espeak-ng and sox; `make deps`).
# The files are committed; run `make sounds` after changing this script.
# Reproducible: fixed voice, rate, pitch and amplitude, and no dither
# (sox -D), so the same package versions give the same bytes.
# SPDX-License-Identifier: GPL-2.0-or-later
set -euo pipefail
cd "$(dirname "$0")"

RATE=16000
VOICE=(-v en-us -s 150 -p 50 -a 120 -g 2)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# say FILE TEXT: speak TEXT into FILE.wav (relative to sounds/).
say() {
	mkdir -p "$(dirname "$1")"
	espeak-ng "${VOICE[@]}" -w "$tmp/say.wav" "$2"
	# Trim espeak's leading and trailing silence, then leave 50 ms either
	# side; normalise to -3 dBFS so every prompt plays at one level.
	sox -V1 -D "$tmp/say.wav" -r $RATE -c 1 -b 16 -e signed-integer "$1.wav" \
		silence 1 0.01 0.5% reverse silence 1 0.01 0.5% reverse \
		pad 0.05 0.05 norm -3
}

words=(zero one two three four five six seven eight nine)
for d in "${!words[@]}"; do
	say "digits/$d" "${words[$d]}"
done
say digits/star "star"
say digits/pound "pound"
say digits/minus "minus"

say demo-congrats "Congratulations. You have reached the playback test."
say demo-echotest "Echo test. Speak and you will hear your voice. Press pound to end."

# Leaving a message (app_voicemail.c).
say vm-theperson "The person at extension"
say vm-isunavail "is unavailable."
say vm-isonphone "is on the phone."
say vm-intro "Please leave your message after the tone. When done, hang up, or press the pound key."
say vm-mailboxfull "Sorry, this mailbox is full and cannot take a message."
say vm-nobox "Sorry, that mailbox does not exist."
say vm-msgsaved "Your message has been saved."
say vm-error "Sorry, your message could not be saved."
say vm-goodbye "Goodbye."

# 250 ms of 1 kHz at -6 dBFS, with 5 ms fades against clicks.
sox -V1 -D -n -r $RATE -c 1 -b 16 -e signed-integer beep.wav \
	synth 0.25 sine 1000 gain -6 fade t 0.005 0.25 0.005
mkdir -p silence
sox -V1 -D -n -r $RATE -c 1 -b 16 -e signed-integer silence/1.wav trim 0 1

# Music on hold, class "default": 32 s of plucked chords (C, Am, F, G, two
# bars each at 60 bpm, then again), made here, so it is ours to license
# with the rest of the project. Quiet (-12 dBFS peak) so a held caller is
# not startled, with fades at both ends so the loop joins without a click.
mkdir -p moh/default
chord() { # FILE NOTE NOTE NOTE: a 4 s chord, one pluck per second
	sox -V1 -D -n -r $RATE -c 1 -b 16 -e signed-integer "$1" \
		synth 1 pluck "$2" pluck "$3" pluck "$4" channels 1 repeat 3
}
chord "$tmp/c.wav" C3 E3 G3
chord "$tmp/am.wav" A2 C3 E3
chord "$tmp/f.wav" F2 A2 C3
chord "$tmp/g.wav" G2 B2 D3
sox -V1 -D "$tmp/c.wav" "$tmp/am.wav" "$tmp/f.wav" "$tmp/g.wav" \
	"$tmp/c.wav" "$tmp/am.wav" "$tmp/f.wav" "$tmp/g.wav" \
	-r $RATE -c 1 -b 16 -e signed-integer moh/default/chords.wav \
	norm -12 fade t 0.05 0 0.05

# Numbers (app_saynumber.c, and the counts and dates of app_voicemailmain.c),
# named as Asterisk names them.
teens=(ten eleven twelve thirteen fourteen fifteen sixteen seventeen eighteen nineteen)
for i in "${!teens[@]}"; do
	say "digits/$((10 + i))" "${teens[$i]}"
done
tens=(twenty thirty forty fifty sixty seventy eighty ninety)
for i in "${!tens[@]}"; do
	say "digits/$((20 + 10 * i))" "${tens[$i]}"
done
say digits/hundred "hundred"
say digits/thousand "thousand"
say digits/million "million"
say digits/oh "oh"
say digits/a-m "A M"
say digits/p-m "P M"
months=(January February March April May June July August September October November December)
for i in "${!months[@]}"; do
	say "digits/mon-$i" "${months[$i]}"
done

# Hearing and managing messages (app_voicemailmain.c).
say vm-login "Please enter your mailbox number, then press pound."
say vm-password "Please enter your PIN, then press pound."
say vm-incorrect "Login incorrect."
say vm-youhave "You have"
say vm-no "no"
say vm-and "and"
say vm-message "message"
say vm-messages "messages"
say vm-INBOX "new"
say vm-Old "old"
say vm-Work "work"
say vm-Family "family"
say vm-Friends "friends"
say vm-Urgent "urgent"
say vm-msgmenu "Press 7 to delete, 9 to save, 6 for the next message, or star for help."
say vm-help "To hear the message again, press 1. For its date and caller, 3. For the previous message, 4. For the next message, 6. To delete or undelete it, 7. To forward it, 8. To save it in a folder, 9. To change folders, 2. For mailbox options, 0. To exit, press pound."
say vm-mainmenu "To listen to your messages, press 1. To change folders, press 2. For mailbox options, press 0. To exit, press pound."
say vm-nomore "There are no more messages."
say vm-deleted "Message deleted."
say vm-undeleted "Message undeleted."
say vm-savefolder "Which folder should the message be saved in?"
say vm-changeto "Which folder would you like to hear?"
say vm-folders "Press 0 for new messages, 1 for old messages, 2 for work, 3 for family, or 4 for friends. Press star to cancel."
say vm-savedto "Message saved in the folder"
say vm-forwardto "Enter the extension to forward the message to, then press pound. Press star to cancel."
say vm-forwarded "Message forwarded."
say vm-received "Received"
say vm-at "at"
say vm-from "from"
say vm-unknowncaller "an unknown caller"
say vm-options "To record your unavailable greeting, press 1. To record your busy greeting, press 2. To record your name, press 3. To change your PIN, press 4. To go back, press star."
say vm-rec-unavail "After the tone, say your unavailable greeting, then press pound."
say vm-rec-busy "After the tone, say your busy greeting, then press pound."
say vm-rec-name "After the tone, say your name, then press pound."
say vm-review "To accept this recording, press 1. To listen to it, press 2. To record it again, press 3."
say vm-recsaved "Your recording has been saved."
say vm-discarded "Recording discarded."
say vm-newpin "Please enter your new PIN, then press pound."
say vm-reenterpin "Please enter your new PIN again, then press pound."
say vm-pinbad "A PIN must be 4 to 16 digits."
say vm-mismatch "The PINs do not match."
say vm-pinchanged "Your PIN has been changed."
say vm-invalid "That is not a valid choice."
say vm-failed "Sorry, that did not work."

# Conferences (confbridge), named as Asterisk names them.
say conf-onlyperson "You are currently the only person in this conference."
say conf-getpin "Please enter the conference PIN, followed by the pound key."
say conf-invalidpin "That PIN is invalid. Please try again."
say conf-locked "This conference is locked."
say conf-full "This conference is full."
say conf-thereare "There are currently"
say conf-otherinparty "other participants in this conference."
say conf-kicked "You have been removed from this conference."
say conf-muted "You are now muted."
say conf-unmuted "You are no longer muted."
say conf-lockednow "The conference is now locked."
say conf-unlockednow "The conference is now unlocked."
say conf-usermenu "Press 1 to mute or unmute yourself. 4 or 6 to lower or raise the volume you hear. 7 or 9 to lower or raise your own volume. Pound to leave the conference."
say conf-adminmenu "Press 1 to mute or unmute yourself. 2 to lock or unlock the conference. 3 to remove the last caller who joined. 4 or 6 to lower or raise the volume you hear. 7 or 9 to lower or raise your own volume. Pound to leave the conference."
say conf-leaderhasleft "The leader has left the conference."
say conf-waitforleader "The conference will begin when the leader arrives."
say conf-hasjoin "has joined the conference."
say conf-hasleft "has left the conference."
say conf-getname "After the tone, say your name, then press pound."
say conf-errormenu "That is not a valid option."

# The chimes a conference plays when someone joins (rising) or leaves
# (falling): two sine notes, 120 ms then 160 ms, each with 10 ms fades
# against clicks, normalised to -12 dBFS, quieter than speech.
chime() { # FILE HZ HZ
	sox -V1 -D -n -r $RATE -c 1 -b 16 -e signed-integer "$tmp/n1.wav" \
		synth 0.12 sine "$2" fade t 0.01 0.12 0.01
	sox -V1 -D -n -r $RATE -c 1 -b 16 -e signed-integer "$tmp/n2.wav" \
		synth 0.16 sine "$3" fade t 0.01 0.16 0.01
	sox -V1 -D "$tmp/n1.wav" "$tmp/n2.wav" \
		-r $RATE -c 1 -b 16 -e signed-integer "$1.wav" norm -12
}
chime confbridge-join 660 880
chime confbridge-leave 880 660

echo "sounds: $(find . -name '*.wav' | wc -l) files, $(du -sh --apparent-size . | cut -f1)"
