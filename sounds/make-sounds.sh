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

echo "sounds: $(find . -name '*.wav' | wc -l) files, $(du -sh --apparent-size . | cut -f1)"
