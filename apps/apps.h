/**
 * @file apps.h  Private to apps/: prompt player, sound names, parsers the unit tests see
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * The applications are one file each; what several of them share (playing
 * a list of prompts on the caller's channel) lives in apps.c. The
 * argument parsers of dial, read and set are not static so that
 * tests/unit/test_apps.c can check them without a running call.
 */
#ifndef APPS_H
#define APPS_H

#include <stdbool.h>
#include <stddef.h>

#include <stdint.h>

#include "pbx/app.h"
#include "pbx/chan.h"
#include "pbx/module.h"

/* Module order of the applications: after the core; the dialplan engine (later) unloads first. */
#define APPS_MODULE_ORDER 30

/**
 * Ends every application file: the module that registers its static
 * `app` descriptor, named "app_<n>".
 */
#define APPS_MODULE(n)                         \
	static int n##_load(void)              \
	{                                      \
		return pbx_app_register(&app); \
	}                                      \
	static void n##_unload(void)           \
	{                                      \
		pbx_app_unregister(&app);      \
	}                                      \
	PBX_MODULE(app_##n##_module) = {"app_" #n, APPS_MODULE_ORDER, n##_load, n##_unload}

/** As APPS_MODULE, for a file of two applications @p a and @p b (a start and its stop). */
#define APPS_MODULE2(n, a, b)                               \
	static int n##_load(void)                           \
	{                                                   \
		int err = pbx_app_register(&(a));           \
		if (!err && (err = pbx_app_register(&(b)))) \
			pbx_app_unregister(&(a));           \
		return err;                                 \
	}                                                   \
	static void n##_unload(void)                        \
	{                                                   \
		pbx_app_unregister(&(b));                   \
		pbx_app_unregister(&(a));                   \
	}                                                   \
	PBX_MODULE(app_##n##_module) = {"app_" #n, APPS_MODULE_ORDER, n##_load, n##_unload}

/**
 * Finish @p call after @p ms (Answer's delay, Wait): returns EINPROGRESS
 * for exec to return, or ENOMEM after setting the app error. Pair it with
 * apps_sleep_cancel as the app's cancel.
 */
int apps_sleep(struct pbx_app_call *call, uint64_t ms, const char *app_name);
void apps_sleep_cancel(struct pbx_chan *ch, struct pbx_app_call *call);

/* ---- sound files (apps.c) ------------------------------------------------------------- */

/* Prompts are looked up under pbx.sounds_dir (pbx_sounds_dir()). */
#define APPS_PATH_MAX 512

/**
 * The file for prompt @p name, as Asterisk names them: "digits/1" is
 * SOUNDS_DIR/digits/1.wav; an absolute name is kept; ".wav" is added when
 * the last component has no extension. 0, EINVAL (empty name) or
 * ENAMETOOLONG.
 */
int apps_sound_path(char *out, size_t size, const char *name);

/*
 * Plays a list of files on one channel, one after the other. The owning
 * application registers for the channel's media_done events and feeds
 * them to player_event(). Exactly one media_done follows every started
 * file (its end, an error, or ECANCELED after a stop); the media engine
 * drops those of a playback replaced by a newer one. An application that
 * stops a file still waits for that event before it finishes, so that it
 * never depends on that filtering to keep its event from the next one.
 */
struct player {
	struct pbx_chan *ch; /* borrowed: the channel of the running application */
	char **paths;
	size_t count, next;
	bool busy;     /* a file is playing: its media_done is still to come */
	bool stopping; /* player_stop() was called for it */
	bool failed;   /* a file was missing or ended in error (PLAYBACKSTATUS=FAILED) */
};

void player_init(struct player *pl, struct pbx_chan *ch);
/** Append one prompt by name. 0, EINVAL, ENAMETOOLONG or ENOMEM. */
int player_add(struct player *pl, const char *name);
/** Append prompts joined with '&' ("hello&digits/1"); empty items are skipped. */
int player_add_list(struct player *pl, const char *list);
/**
 * Play the next file. Missing files are logged, marked failed and
 * skipped, as Asterisk's Playback does. 0 when a file plays, ENODATA when
 * none is left.
 */
int player_start(struct player *pl);
/**
 * Feed a media_done event. Returns 0 when the next file plays, ENODATA
 * when the list ended, ECANCELED when a stop took effect (ours, or
 * another's such as a bridge: then failed is set), EALREADY when the
 * event was not for this player (nothing of ours playing).
 */
int player_event(struct player *pl, int err);
/** Stop the file playing. True when its media_done is still to come. */
bool player_stop(struct player *pl);
/** Start the list again from its first file (Read's next attempt). */
void player_rewind(struct player *pl);
/** Stop without waiting (the channel hangs up) and free the list. */
void player_release(struct player *pl);

/*
 * A player run as the whole application (Playback, Background,
 * SayDigits): allocate one with calloc, fill it, hand it to
 * apps_play_start(), which owns it from then on and frees it at the end.
 */
struct apps_play {
	struct player pl;
	struct pbx_app_call *call;
	bool interruptible; /* any DTMF digit stops the prompts (Background) */
	char digit[2];      /* the digit that stopped them, as a result string; "" when none */
	/** At the end (not on hangup): set the variables and return the app's result, or NULL. */
	const char *(*end)(struct apps_play *ap);
};

/**
 * Answer, or indicate early media, as the application's options say:
 * nothing when the channel is up; with @p early, PROGRESS (183) and play
 * without answering. 0 or the driver's errno.
 */
int apps_answer(struct pbx_chan *ch, bool early);
/**
 * Start playing. Returns 0 when everything ended at once (no playable file;
 * the result is set) or EINPROGRESS (the application returns it from exec).
 */
int apps_play_start(struct apps_play *ap);
/** The application's cancel(): the channel hangs up. */
void apps_play_cancel(struct pbx_chan *ch, struct pbx_app_call *call);

/* ---- numbers (app_saynumber.c) ------------------------------------------------------------ */

/** Takes one prompt name ("digits/20"); a non-zero return (an errno) stops the caller. */
typedef int apps_say_h(void *arg, const char *name);

/* Asterisk's English SayNumber reaches the hundreds of millions; so does this. */
#define APPS_NUMBER_MAX 999999999LL

/**
 * Speak @p n in English as Asterisk's SayNumber does, one prompt name at
 * a time: 21 is "digits/20" "digits/1", 300 is "digits/3"
 * "digits/hundred", 2005 is "digits/2" "digits/thousand" "digits/5",
 * negatives start with "digits/minus". 0, ERANGE when |n| is above
 * APPS_NUMBER_MAX (nothing said), or what @p say returned.
 */
int apps_say_number(long long n, apps_say_h *say, void *arg);
/** An apps_say_h appending to the struct player @p pl (player_add). */
int apps_say_player(void *pl, const char *name);

/* ---- recordings (apps.c) ------------------------------------------------------------ */

/**
 * Where a recording named @p name goes: an absolute name is kept; another
 * is under STATE_DIR/@p subdir/ ("recordings", "monitor"), a folder made
 * when missing. The first "%d" becomes the lowest number whose file does
 * not exist yet, nor is being recorded, nor was handed out in the last
 * minute (Asterisk's Record). 0, EINVAL (empty, or ".." in a relative
 * name), ENAMETOOLONG, EEXIST (10000 taken), or mkdir's errno.
 */
int apps_recording_path(char *out, size_t size, const char *name, const char *subdir);

/* ---- tones (app_playtones.c) ------------------------------------------------------------ */

struct pbx_tone_spec;
/**
 * A tone by name ("busy") or in Asterisk's form ("480+620/500,0/500",
 * "!1400/250"; see app_playtones.c) into @p spec. 0 or EINVAL.
 */
int apps_tone_parse(const char *text, struct pbx_tone_spec *spec);

/* ---- dial (app_dial.c) ------------------------------------------------------------------- */

/* Targets of one Dial; Asterisk allows as many as fit, a handful is usual. */
#define DIAL_MAX_TARGETS 32

struct dial_target {
	const char *tech; /* "SIP", "PJSIP"; NULL when the item is malformed */
	size_t tech_len;
	const char *dest; /* after the '/': "1001", "sip:bob@host" (NUL-terminated) */
	const char *item; /* the whole item, for logs (NUL-terminated) */
};

/**
 * Split @p str in place on '&' into targets "TECH/dest", blanks around
 * items trimmed, empty items skipped. A malformed item (no '/', empty
 * technology or destination) gets tech NULL, so the caller logs it and
 * counts it unavailable. Returns the number of targets (at most @p max;
 * the rest are ignored, *@p truncated says so).
 */
size_t dial_targets_parse(char *str, struct dial_target *out, size_t max, bool *truncated);

/**
 * DIALSTATUS when no leg answered, from the hangup causes of all legs
 * (pbx_cause_dialstatus of each): BUSY if any was busy, else CONGESTION
 * if any was congested, else NOANSWER if any timed out, else CHANUNAVAIL
 * (also for no legs at all).
 */
const char *dial_status_of(const int *causes, size_t n);

/** Options of Dial. Unknown letters are ignored, with a debug line. */
struct dial_opts {
	bool ring;            /* 'r': indicate ringing at once and pass no early media */
	bool callee_transfer; /* 't': the callee may transfer with the feature codes */
	bool caller_transfer; /* 'T': the caller may */
};
void dial_opts_parse(const char *s, struct dial_opts *o);

/* ---- read (app_read.c) ------------------------------------------------------------------- */

#define READ_MAX_DIGITS    255   /* Asterisk's limit, also for maxdigits 0 ("until #") */
#define READ_FIRST_MS      10000 /* Asterisk's default response timeout */
#define READ_INTERDIGIT_MS 5000  /* Asterisk's default digit timeout */
#define READ_MAX_TIMEOUT_S 3600

struct read_args {
	const char *var;    /* variable that receives the digits */
	const char *prompt; /* '&'-joined prompts; "" for none */
	unsigned maxdigits; /* 1..READ_MAX_DIGITS */
	unsigned attempts;  /* >= 1: the prompt is played again while nothing was entered */
	unsigned first_ms;  /* wait for the first digit after the prompt */
	unsigned inter_ms;  /* wait between digits */
	bool skip;          /* 's': return READSTATUS=SKIPPED when not answered */
	bool noanswer;      /* 'n': read without answering */
};

/**
 * Read(variable, filename, maxdigits, options, attempts, timeout) as
 * Asterisk: maxdigits 0 or below means up to READ_MAX_DIGITS ended by
 * '#'; attempts below 1 mean 1; timeout (seconds, fractions allowed)
 * above 0 sets both waits, else 10 s for the first digit and 5 s between
 * digits. 0, or EINVAL when the variable name is empty or not a name.
 */
int read_args_parse(const char *const *argv, struct read_args *ra);

/* ---- set (app_set.c) --------------------------------------------------------------------- */

/**
 * Split "NAME=value" in place: the name is trimmed and must be non-empty
 * without blanks; the value is everything after the first '=' (may be
 * empty, may hold '=' and ','). 0 or EINVAL.
 */
int set_assign_parse(char *s, char **name, char **value);

/** Set's and Read's rule for a variable name: non-empty, no blanks, no '=' nor '$'. */
bool apps_var_name_ok(const char *name);

#endif
