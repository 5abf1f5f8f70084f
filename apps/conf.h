/**
 * @file conf.h  Private to apps/: conferences (ConfBridge): options, rooms, members
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Four files share this:
 *  - conf_opts.c parses what the dialplan passes (a Lua table, flattened
 *    to "key=value;..." by the engine, or Asterisk MeetMe-style letters)
 *    and the conference config section; the unit tests see it;
 *  - conf_room.c keeps the rooms alive now: each a mixing bridge with its
 *    members, created by the first join and gone with the last leave, and
 *    what the console and the menu do to them (mute, kick, lock, record,
 *    play);
 *  - app_confbridge.c is the application: PIN, announcements, the DTMF
 *    menu, hold music while alone;
 *  - conf_cmds.c is the console's `confbridge ...`.
 *
 * Signalling thread only.
 */
#ifndef CONF_H
#define CONF_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "pbx/chan.h"
#include "pbx/conf_rooms.h"

#define CONF_NAME_MAX PBX_CONF_NUM_MAX
#define CONF_MOH_MAX  64

/* What a member asks for when joining (Asterisk's user and bridge profiles in one). */
struct conf_opts {
	/* user profile */
	bool admin;              /* admin menu (2 lock, 3 kick last), not muted by `participants` */
	bool marked;             /* a leader: wait_marked members wait for one */
	bool muted;              /* joins muted */
	bool wait_marked;        /* muted, hearing music, until a marked member is in */
	bool end_marked;         /* leaves when the last marked member has left */
	bool quiet;              /* no join/leave sounds for others, no announcements to itself */
	bool announce_name;      /* records its name; the room hears it join and leave */
	bool announce_count;     /* "there are N other participants" on joining */
	bool announce_only_user; /* "you are the only person" when alone */
	bool moh_when_empty;     /* hold music while alone */
	bool menu;               /* the DTMF menu (1 mute, 4/6, 7/9, *, #) */
	bool denoise, agc;       /* speexdsp on its voice */
	int talk_volume, listen_volume;
	char moh[CONF_MOH_MAX];         /* hold-music class; "" : the room's, else "default" */
	char pin[PBX_CONF_PIN_MAX + 1]; /* a room not in the directory asks for this */
	/* bridge profile: taken from the member that creates the room */
	unsigned max_members; /* 0: no limit of the room's own */
	unsigned rate;        /* 0: conference.rate */
	unsigned talkers;     /* 0: conference.talkers */
	bool record;          /* record the room from its start */
};

/** Asterisk's defaults: announcements on, menu on, music when alone. */
void conf_opts_default(struct conf_opts *o);
/**
 * Apply @p s onto @p o: "key=value;key=value" (what a Lua table becomes,
 * booleans as yes/no) or MeetMe-style letters (A admin+marked, a admin,
 * m muted, w wait_marked, x end_marked, q quiet, i announce_name,
 * c announce_count, M(class) music, r record, d denoise, g agc).
 * 0, or EINVAL with a message naming the key or letter in @p why.
 */
int conf_opts_parse(const char *s, struct conf_opts *o, char *why, size_t whylen);

/* The conference config section (conf_opts.c). */
struct conf_cfg {
	int max_members; /* across the PBX; 0: no limit */
	int rate;        /* 0: 16 kHz, 48 kHz while an Opus member is in */
	int talkers;     /* loudest talkers mixed */
};
const struct conf_cfg *conf_cfg(void);

/* ---- rooms (conf_room.c) ------------------------------------------------------------------- */

struct conf_room;
struct conf_member;

/** What the room tells the application of a member. */
struct conf_member_ops {
	/** The room changed around it (alone, a leader came or went): sounds to refresh. */
	void (*changed)(struct conf_member *m, void *arg);
	/** It must leave: the last marked member left (end_marked). */
	void (*ended)(struct conf_member *m, void *arg);
};

struct conf_member {
	struct conf_room *room;
	struct pbx_chan *ch; /* a reference */
	struct conf_opts o;
	bool muted;   /* now, by itself, an admin or the console */
	bool waiting; /* wait_marked and no leader in: muted, hearing music */
	bool talking;
	bool ended;   /* told to leave (end_marked) */
	unsigned seq; /* join order in the room */
	time_t joined;
	time_t talk_start;
	unsigned talked_s; /* seconds it talked, over */
	int talk_volume, listen_volume;
	const struct conf_member_ops *ops;
	void *arg;
	struct conf_member *next;
};

struct conf_room {
	char name[CONF_NAME_MAX + 1];
	struct pbx_bridge *b;
	struct conf_member *members; /* in join order */
	unsigned n, nmarked, seq;
	bool locked;
	unsigned max; /* members; 0: no limit of its own */
	bool defined; /* from the directory (def is valid) */
	struct pbx_conf_room def;
	char moh[CONF_MOH_MAX];
	time_t created;
	char rec_path[512]; /* the recording running, or the last one */
	bool recording;
	struct conf_play *plays; /* sounds for the room, played in turn */
	bool playing;
	struct conf_room *next;
};

/** The room @p name now, or NULL. */
struct conf_room *conf_room_find(const char *name);
/** Rooms now, oldest first; stops when @p cb returns non-zero. */
int conf_room_each(int (*cb)(struct conf_room *r, void *arg), void *arg);
/** Members across every room. */
unsigned conf_members_total(void);

/**
 * Put @p ch in room @p name, creating it (from @p def when the directory
 * has it, else from @p o) when it does not exist. 0; EPERM (locked, and
 * @p o is not admin); ENOSPC (the room's max members, or
 * conference.max_members, reached); ENOTCONN (no media); ENOMEM.
 */
int conf_join(const char *name, const struct pbx_conf_room *def, struct pbx_chan *ch,
	      const struct conf_opts *o, const struct conf_member_ops *ops, void *arg,
	      struct conf_member **mp);
/** Take @p m out (and free it); the room goes with its last member. Sounds for the others. */
void conf_leave(struct conf_member *m);
/** The member of @p r on channel @p name (or whose name starts with it), or NULL. */
struct conf_member *conf_member_find(struct conf_room *r, const char *name);

int conf_member_mute(struct conf_member *m, bool muted);
/** Add @p delta steps to a volume (talk or listen), within PBX_MIX_VOLUME_MAX. */
int conf_member_volume(struct conf_member *m, bool talk, int delta);
/** Hang up @p m's call (it gets BYE); CONFBRIDGE_RESULT=KICKED. */
void conf_member_kick(struct conf_member *m);
void conf_room_lock(struct conf_room *r, bool locked);
/** Record the room's mix into @p path ("": a new file under STATE_DIR/confbridge/). 0 or errno. */
int conf_room_record(struct conf_room *r, const char *path);
/** 0, or ENOENT when nothing records. */
int conf_room_record_stop(struct conf_room *r);
/**
 * Play the prompts of @p list ('&'-joined names, as Playback) into the
 * room for everyone, after what plays already. With @p unlink_after the
 * files are removed once played (recorded names). 0, ENOENT or ENOMEM.
 */
int conf_room_play(struct conf_room *r, const char *list, bool unlink_after);

#endif
