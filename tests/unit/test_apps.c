/**
 * @file test_apps.c  Applications: their parsers, and their call flows on a fake driver
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Dial strings, DIALSTATUS, Read and Set arguments, prompt names; then
 * every application run as the dialplan engine runs it (a fake engine
 * here) on channels of a fake driver whose wire is the test, so the
 * event sequences of real calls (ringing, early media, answer, hangup on
 * either side, timeouts, DTMF) are checked without SIP or media. The
 * integration tests run them in real calls.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "pbx/app.h"
#include "pbx/bridge.h"
#include "pbx/chan.h"
#include "pbx/core.h"
#include "pbx/module.h"
#include "../../apps/apps.h"
#include "pbx/frame.h"
#include "unit.h"

/* ---- dial strings ------------------------------------------------------------------------ */

static void assert_target(const struct dial_target *t, const char *tech, const char *dest)
{
	assert_non_null(t->tech);
	assert_int_equal(t->tech_len, strlen(tech));
	assert_memory_equal(t->tech, tech, t->tech_len);
	assert_string_equal(t->dest, dest);
}

static void test_dial_parse(void **state)
{
	char s[] = "SIP/1001&PJSIP/1002&SIP/sip:bob@host";
	struct dial_target t[DIAL_MAX_TARGETS];
	bool trunc;
	assert_int_equal(dial_targets_parse(s, t, DIAL_MAX_TARGETS, &trunc), 3);
	assert_false(trunc);
	assert_target(&t[0], "SIP", "1001");
	assert_target(&t[1], "PJSIP", "1002");
	assert_target(&t[2], "SIP", "sip:bob@host");
	assert_string_equal(t[2].item, "SIP/sip:bob@host");
}

static void test_dial_parse_blanks_and_empty(void **state)
{
	char s[] = " SIP/1001 &&  & SIP/sip:bob@host:5080;transport=tcp/x &";
	struct dial_target t[DIAL_MAX_TARGETS];
	bool trunc;
	assert_int_equal(dial_targets_parse(s, t, DIAL_MAX_TARGETS, &trunc), 2);
	assert_target(&t[0], "SIP", "1001");
	/* Only the first '/' separates: the rest belongs to the destination. */
	assert_target(&t[1], "SIP", "sip:bob@host:5080;transport=tcp/x");

	char e[] = "  ";
	assert_int_equal(dial_targets_parse(e, t, DIAL_MAX_TARGETS, &trunc), 0);
	char e2[] = "";
	assert_int_equal(dial_targets_parse(e2, t, DIAL_MAX_TARGETS, &trunc), 0);
}

static void test_dial_parse_malformed(void **state)
{
	char s[] = "1001&SIP/&/1001&SIP/1002";
	struct dial_target t[DIAL_MAX_TARGETS];
	bool trunc;
	assert_int_equal(dial_targets_parse(s, t, DIAL_MAX_TARGETS, &trunc), 4);
	for (int i = 0; i < 3; i++)
		assert_null(t[i].tech);
	assert_string_equal(t[0].item, "1001");
	assert_string_equal(t[1].item, "SIP/");
	assert_string_equal(t[2].item, "/1001");
	assert_target(&t[3], "SIP", "1002");
}

static void test_dial_parse_too_many(void **state)
{
	char s[1024] = "";
	for (int i = 0; i < DIAL_MAX_TARGETS + 3; i++)
		snprintf(s + strlen(s), sizeof s - strlen(s), "%sSIP/%d", i ? "&" : "", 1000 + i);
	struct dial_target t[DIAL_MAX_TARGETS];
	bool trunc;
	assert_int_equal(dial_targets_parse(s, t, DIAL_MAX_TARGETS, &trunc), DIAL_MAX_TARGETS);
	assert_true(trunc);
	assert_target(&t[DIAL_MAX_TARGETS - 1], "SIP", "1031");
}

static int fake_request(struct pbx_chan **chp, const char *dest, struct pbx_chan *requester)
{
	return ENOENT;
}

static const struct pbx_chan_tech fake_sip = {
	.name = "SIP",
	.alias = "PJSIP",
	.request = fake_request,
};

/* What Dial looks up for each target: PJSIP/ reaches the driver registered as SIP. */
static void test_dial_pjsip_alias(void **state)
{
	int err = pbx_chan_tech_register(&fake_sip);
	assert_true(err == 0 || err == EEXIST);
	char s[] = "SIP/1001&PJSIP/1002&pjsip/1003&IAX2/1004";
	struct dial_target t[4];
	bool trunc;
	assert_int_equal(dial_targets_parse(s, t, 4, &trunc), 4);
	const struct pbx_chan_tech *sip = pbx_chan_tech_find(t[0].tech, t[0].tech_len);
	assert_non_null(sip);
	assert_ptr_equal(pbx_chan_tech_find(t[1].tech, t[1].tech_len), sip);
	assert_ptr_equal(pbx_chan_tech_find(t[2].tech, t[2].tech_len), sip);
	assert_null(pbx_chan_tech_find(t[3].tech, t[3].tech_len));
	/* The length counts: "SIP/..." must not match "SIPX" nor "SI". */
	assert_null(pbx_chan_tech_find("SI", 2));
	if (!err)
		pbx_chan_tech_unregister(&fake_sip);
}

/* ---- DIALSTATUS --------------------------------------------------------------------------- */

static void test_cause_dialstatus(void **state)
{
	/* The mapping Dial relies on (pbx_cause_dialstatus in the channel core). */
	assert_string_equal(pbx_cause_dialstatus(PBX_CAUSE_BUSY), "BUSY");
	assert_string_equal(pbx_cause_dialstatus(PBX_CAUSE_CONGESTION), "CONGESTION");
	assert_string_equal(pbx_cause_dialstatus(PBX_CAUSE_NO_ANSWER), "NOANSWER");
	assert_string_equal(pbx_cause_dialstatus(PBX_CAUSE_UNAVAILABLE), "CHANUNAVAIL");
	assert_string_equal(pbx_cause_dialstatus(PBX_CAUSE_UNALLOCATED), "CHANUNAVAIL");
}

static void test_dial_status_of(void **state)
{
	assert_string_equal(dial_status_of(NULL, 0), "CHANUNAVAIL");
	int busy[] = {PBX_CAUSE_BUSY};
	assert_string_equal(dial_status_of(busy, 1), "BUSY");
	int unavail[] = {PBX_CAUSE_UNAVAILABLE, PBX_CAUSE_UNALLOCATED};
	assert_string_equal(dial_status_of(unavail, 2), "CHANUNAVAIL");
	/* Any busy leg makes the whole dial BUSY, whatever the others did. */
	int mixed[] = {PBX_CAUSE_UNAVAILABLE, PBX_CAUSE_CONGESTION, PBX_CAUSE_BUSY};
	assert_string_equal(dial_status_of(mixed, 3), "BUSY");
	int cong[] = {PBX_CAUSE_UNAVAILABLE, PBX_CAUSE_CONGESTION, PBX_CAUSE_UNALLOCATED};
	assert_string_equal(dial_status_of(cong, 3), "CONGESTION");
	int noans[] = {PBX_CAUSE_UNAVAILABLE, PBX_CAUSE_NO_ANSWER};
	assert_string_equal(dial_status_of(noans, 2), "NOANSWER");
	int cong_noans[] = {PBX_CAUSE_NO_ANSWER, PBX_CAUSE_CONGESTION};
	assert_string_equal(dial_status_of(cong_noans, 2), "CONGESTION");
}

static void test_dial_opts(void **state)
{
	struct dial_opts o;
	dial_opts_parse("", &o);
	assert_false(o.ring);
	dial_opts_parse("r", &o);
	assert_true(o.ring);
	assert_false(o.callee_transfer);
	assert_false(o.caller_transfer);
	dial_opts_parse("tTgr", &o);
	assert_true(o.ring);
	assert_true(o.callee_transfer);
	assert_true(o.caller_transfer);
	dial_opts_parse("t", &o);
	assert_true(o.callee_transfer);
	assert_false(o.caller_transfer);
	dial_opts_parse("T", &o);
	assert_false(o.callee_transfer);
	assert_true(o.caller_transfer);
	/* Letters inside an option's argument are not options. */
	dial_opts_parse("D(rtT12)g", &o);
	assert_false(o.ring);
	assert_false(o.callee_transfer || o.caller_transfer);
	dial_opts_parse("xyzL(60000", &o);
	assert_false(o.ring);
}

/* ---- Read --------------------------------------------------------------------------------- */

static void test_read_defaults(void **state)
{
	const char *argv[] = {"EXTEN_IN", "", "", "", "", ""};
	struct read_args ra;
	assert_int_equal(read_args_parse(argv, &ra), 0);
	assert_string_equal(ra.var, "EXTEN_IN");
	assert_string_equal(ra.prompt, "");
	assert_int_equal(ra.maxdigits, READ_MAX_DIGITS);
	assert_int_equal(ra.attempts, 1);
	assert_int_equal(ra.first_ms, 10000);
	assert_int_equal(ra.inter_ms, 5000);
	assert_false(ra.skip);
	assert_false(ra.noanswer);
}

static void test_read_args(void **state)
{
	const char *argv[] = {"PIN", "vm-password&beep", "4", "sn", "3", "2.5"};
	struct read_args ra;
	assert_int_equal(read_args_parse(argv, &ra), 0);
	assert_string_equal(ra.prompt, "vm-password&beep");
	assert_int_equal(ra.maxdigits, 4);
	assert_int_equal(ra.attempts, 3);
	assert_int_equal(ra.first_ms, 2500);
	assert_int_equal(ra.inter_ms, 2500);
	assert_true(ra.skip);
	assert_true(ra.noanswer);

	/* Out of range values fall back as in Asterisk. */
	const char *odd[] = {"X", "", "300", "", "0", "0"};
	assert_int_equal(read_args_parse(odd, &ra), 0);
	assert_int_equal(ra.maxdigits, READ_MAX_DIGITS);
	assert_int_equal(ra.attempts, 1);
	assert_int_equal(ra.first_ms, 10000);
	const char *neg[] = {"X", "", "-1", "", "-2", "-3"};
	assert_int_equal(read_args_parse(neg, &ra), 0);
	assert_int_equal(ra.maxdigits, READ_MAX_DIGITS);
	assert_int_equal(ra.attempts, 1);
	assert_int_equal(ra.inter_ms, 5000);
	const char *big[] = {"X", "", "0", "", "", "100000"};
	assert_int_equal(read_args_parse(big, &ra), 0);
	assert_int_equal(ra.first_ms, READ_MAX_TIMEOUT_S * 1000);
	const char *tiny[] = {"X", "", "1", "", "", "0.0001"};
	assert_int_equal(read_args_parse(tiny, &ra), 0);
	assert_int_equal(ra.maxdigits, 1);
	assert_int_equal(ra.first_ms, 1);
}

static void test_read_bad_variable(void **state)
{
	struct read_args ra;
	const char *names[] = {"", "A B", "X=1", "${X}", "tab\tname"};
	for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
		const char *argv[] = {names[i], "", "", "", "", ""};
		assert_int_equal(read_args_parse(argv, &ra), EINVAL);
	}
}

/* ---- Set ---------------------------------------------------------------------------------- */

static void test_set_parse(void **state)
{
	char *name, *value;
	char a[] = "FOO=bar";
	assert_int_equal(set_assign_parse(a, &name, &value), 0);
	assert_string_equal(name, "FOO");
	assert_string_equal(value, "bar");

	char b[] = "  FOO  =a=b, c ";
	assert_int_equal(set_assign_parse(b, &name, &value), 0);
	assert_string_equal(name, "FOO");
	assert_string_equal(value, "a=b, c ");

	char c[] = "EMPTY=";
	assert_int_equal(set_assign_parse(c, &name, &value), 0);
	assert_string_equal(name, "EMPTY");
	assert_string_equal(value, "");

	char d[] = "CALLERID(num)=1001";
	assert_int_equal(set_assign_parse(d, &name, &value), 0);
	assert_string_equal(name, "CALLERID(num)");
}

static void test_set_parse_errors(void **state)
{
	char *name, *value;
	const char *bad[] = {"FOO", "=bar", "  =bar", "A B=1", "", "$X=1"};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		char buf[32];
		snprintf(buf, sizeof buf, "%s", bad[i]);
		assert_int_equal(set_assign_parse(buf, &name, &value), EINVAL);
	}
}

/* ---- prompts ------------------------------------------------------------------------------ */

/* "%d": the first number nobody has, and not the same twice in a row
 * before either file exists (two calls recording at once). */
static void test_recording_numbers(void **state)
{
	(void)state;
	char dir[] = "/tmp/pbx-recn-XXXXXX", name[64], a[APPS_PATH_MAX], b[APPS_PATH_MAX];
	assert_non_null(mkdtemp(dir));
	snprintf(name, sizeof name, "%s/msg%%d.wav", dir);
	char f0[80];
	snprintf(f0, sizeof f0, "%s/msg0.wav", dir);
	FILE *f = fopen(f0, "w");
	assert_non_null(f);
	fclose(f);
	assert_int_equal(apps_recording_path(a, sizeof a, name, "recordings"), 0);
	assert_int_equal(apps_recording_path(b, sizeof b, name, "recordings"), 0);
	char want1[80], want2[80];
	snprintf(want1, sizeof want1, "%s/msg1.wav", dir);
	snprintf(want2, sizeof want2, "%s/msg2.wav", dir);
	assert_string_equal(a, want1);
	assert_string_equal(b, want2);
	assert_int_equal(apps_recording_path(a, sizeof a, "../x.wav", "recordings"), EINVAL);
	assert_int_equal(apps_recording_path(a, sizeof a, "a/../../x.wav", "recordings"), EINVAL);
	unlink(f0);
	rmdir(dir);
}

static void test_tone_parse(void **state)
{
	(void)state;
	struct pbx_tone_spec t;
	assert_int_equal(apps_tone_parse("busy", &t), 0);
	assert_int_equal(t.freq[0], 480);
	assert_int_equal(t.freq[1], 620);
	assert_int_equal(t.on_ms, 500);
	assert_int_equal(t.off_ms, 500);
	assert_false(t.once);
	assert_true(t.amplitude > 0);
	assert_int_equal(apps_tone_parse("DIAL", &t), 0);
	assert_int_equal(t.freq[0], 350);
	assert_int_equal(t.on_ms, 0);
	assert_int_equal(apps_tone_parse("425/1000,0/4000", &t), 0);
	assert_int_equal(t.freq[0], 425);
	assert_int_equal(t.freq[1], 0);
	assert_int_equal(t.off_ms, 4000);
	assert_int_equal(apps_tone_parse("!1400/250", &t), 0);
	assert_true(t.once);
	assert_int_equal(t.on_ms, 250);
	const char *bad[] = {"",        "nosuch",        "4000",       "440+", "440/",
			     "440/100", "440/100,1/100", "440/100,0/", "!440", "440+480+620",
			     "-5",      "440/100,0/100x"};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
		if (apps_tone_parse(bad[i], &t) != EINVAL)
			fail_msg("'%s' was taken for a tone", bad[i]);
}

static void test_sound_path(void **state)
{
	char p[APPS_PATH_MAX];
	assert_int_equal(apps_sound_path(p, sizeof p, "digits/1"), 0);
	assert_string_equal(p, PBX_SOUNDS_DIR "/digits/1.wav");
	assert_int_equal(apps_sound_path(p, sizeof p, "beep"), 0);
	assert_string_equal(p, PBX_SOUNDS_DIR "/beep.wav");
	assert_int_equal(apps_sound_path(p, sizeof p, "beep.wav"), 0);
	assert_string_equal(p, PBX_SOUNDS_DIR "/beep.wav");
	assert_int_equal(apps_sound_path(p, sizeof p, "v1.2/hello"), 0);
	assert_string_equal(p, PBX_SOUNDS_DIR "/v1.2/hello.wav");
	assert_int_equal(apps_sound_path(p, sizeof p, "/var/lib/pbx/greeting"), 0);
	assert_string_equal(p, "/var/lib/pbx/greeting.wav");
	assert_int_equal(apps_sound_path(p, sizeof p, "/tmp/x.WAV"), 0);
	assert_string_equal(p, "/tmp/x.WAV");
	assert_int_equal(apps_sound_path(p, sizeof p, ""), EINVAL);
	assert_int_equal(apps_sound_path(p, sizeof p, "digits/"), EINVAL);
	assert_int_equal(apps_sound_path(p, 12, "digits/1"), ENAMETOOLONG);
}

static void test_player_list(void **state)
{
	struct pbx_chan ch;
	memset(&ch, 0, sizeof ch);
	snprintf(ch.name, sizeof ch.name, "TEST/1");
	struct player pl;
	player_init(&pl, &ch);
	assert_int_equal(player_add_list(&pl, "demo-congrats& &digits/1 &&/abs/x.wav&"), 0);
	assert_int_equal(pl.count, 3);
	assert_string_equal(pl.paths[0], PBX_SOUNDS_DIR "/demo-congrats.wav");
	assert_string_equal(pl.paths[1], PBX_SOUNDS_DIR "/digits/1.wav");
	assert_string_equal(pl.paths[2], "/abs/x.wav");
	player_release(&pl);
	assert_int_equal(pl.count, 0);
}

/* The event bookkeeping that keeps a late media_done from reaching the wrong application. */
static void test_player_events(void **state)
{
	struct pbx_chan ch;
	memset(&ch, 0, sizeof ch); /* no media session: nothing is really played */
	snprintf(ch.name, sizeof ch.name, "TEST/1");
	struct player pl;
	player_init(&pl, &ch);
	assert_int_equal(player_add_list(&pl, "beep&beep"), 0);

	/* Nothing of ours plays: any event is someone else's. */
	assert_int_equal(player_event(&pl, 0), EALREADY);
	assert_false(player_stop(&pl));

	/* Pretend the first file plays (the media engine is not there). */
	pl.next = 1;
	pl.busy = true;
	/* Our stop waits for its event, and that event ends the list, even when the file
	 * had ended on its own meanwhile (err 0). */
	assert_true(player_stop(&pl));
	assert_true(player_stop(&pl));
	assert_int_equal(player_event(&pl, 0), ECANCELED);
	assert_false(pl.busy);
	assert_false(pl.failed);
	assert_int_equal(player_event(&pl, 0), EALREADY);

	/* A stop we did not ask for (a bridge took the media) ends the list as failed. */
	pl.busy = true;
	assert_int_equal(player_event(&pl, ECANCELED), ECANCELED);
	assert_true(pl.failed);
	pl.failed = false;

	/* A file that ends while no media session is left: the rest fail, the list ends. */
	pl.busy = true;
	assert_int_equal(player_event(&pl, 0), ENODATA);
	assert_true(pl.failed);
	player_release(&pl);
}

static void test_var_name(void **state)
{
	assert_true(apps_var_name_ok("DIALSTATUS"));
	assert_true(apps_var_name_ok("__INHERIT"));
	assert_false(apps_var_name_ok(""));
	assert_false(apps_var_name_ok(NULL));
	assert_false(apps_var_name_ok("A B"));
	assert_false(apps_var_name_ok("A=B"));
}

/* The committed prompts the applications name: present, 16 kHz mono 16-bit PCM WAV. */
static void test_sounds_committed(void **state)
{
	struct stat st;
	if (stat(PBX_SOUNDS_DIR, &st))
		skip(); /* not run from the source tree */
	const char *names[] = {"digits/0",      "digits/1",     "digits/2",
			       "digits/3",      "digits/4",     "digits/5",
			       "digits/6",      "digits/7",     "digits/8",
			       "digits/9",      "digits/star",  "digits/pound",
			       "beep",          "silence/1",    "demo-congrats",
			       "demo-echotest", "digits/minus", "moh/default/chords"};
	for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
		char p[APPS_PATH_MAX];
		assert_int_equal(apps_sound_path(p, sizeof p, names[i]), 0);
		FILE *f = fopen(p, "rb");
		if (!f)
			fail_msg("%s is missing (make sounds)", p);
		unsigned char h[44];
		size_t n = fread(h, 1, sizeof h, f);
		fclose(f);
		assert_int_equal(n, sizeof h);
		assert_memory_equal(h, "RIFF", 4);
		assert_memory_equal(h + 8, "WAVEfmt ", 8);
		assert_int_equal(h[20] | h[21] << 8, 1);                   /* PCM */
		assert_int_equal(h[22] | h[23] << 8, 1);                   /* mono */
		assert_int_equal(h[24] | h[25] << 8 | h[26] << 16, 16000); /* rate */
		assert_int_equal(h[34] | h[35] << 8, 16);                  /* bits */
	}
}

/* ---- applications in calls, with a fake engine and a fake driver ------------------------ */

/* The engine's side of a running application (the dialplan's own is in dialplan/). */
struct pbx_app_call {
	const struct pbx_app *app;
	struct pbx_chan *ch;
	void *data;
	bool running; /* returned EINPROGRESS, neither finished nor cancelled */
	bool finished, cancelled;
	int err;
	char result[300];
	char error[300];
};

static struct pbx_app_call the_call;

static void ops_finish(struct pbx_app_call *call, int err, const char *result)
{
	assert_true(call->running);
	call->running = false;
	call->finished = true;
	call->err = err;
	snprintf(call->result, sizeof call->result, "%s", result ? result : "");
}

static void ops_set_result(struct pbx_app_call *call, const char *result)
{
	snprintf(call->result, sizeof call->result, "%s", result ? result : "");
}

static void ops_error(struct pbx_app_call *call, const char *fmt, va_list ap)
{
	vsnprintf(call->error, sizeof call->error, fmt, ap);
}

static void ops_set_data(struct pbx_app_call *call, void *data)
{
	call->data = data;
}

static void *ops_data(struct pbx_app_call *call)
{
	return call->data;
}

static int ops_var_set(struct pbx_app_call *call, const char *name, const char *value)
{
	return pbx_chan_var_set(call->ch, name, value);
}

static const struct pbx_app_call_ops call_ops = {
	.finish = ops_finish,
	.set_result = ops_set_result,
	.error = ops_error,
	.set_data = ops_set_data,
	.data = ops_data,
	.var_set = ops_var_set,
};

/* The engine owns the caller: its hangup cancels the running application. */
static void engine_hangup(struct pbx_chan *ch, int cause, void *arg)
{
	struct pbx_app_call *call = arg;
	if (call->running) {
		call->running = false;
		call->cancelled = true;
		call->app->cancel(ch, call);
	}
}

static const struct pbx_chan_events engine_events = {.hangup = engine_hangup};

/* A driver whose wire is the test: it records what it is told and reports what we say. */
#define FAKE_MAX 16
struct fake {
	struct pbx_chan *ch;
	int hangup_cause; /* given by the core; 0 while not hung up from our side */
	unsigned ind;     /* 1 << enum pbx_indication for every indication */
	int calls, answers;
	char dtmf[32]; /* keys the core sent to the phone */
};
static struct fake fakes[FAKE_MAX];
static size_t nfakes;
static const struct pbx_chan_tech test_tech;

static struct fake *fake_of(const struct pbx_chan *ch)
{
	return ch->tech_pvt;
}

static int fake_alloc(struct pbx_chan **chp, const char *peer, bool outgoing)
{
	assert_true(nfakes < FAKE_MAX);
	struct fake *f = &fakes[nfakes++];
	memset(f, 0, sizeof *f);
	assert_int_equal(pbx_chan_alloc(&f->ch, &test_tech, peer, outgoing), 0);
	f->ch->tech_pvt = f;
	*chp = f->ch;
	return 0;
}

static int t_request(struct pbx_chan **chp, const char *dest, struct pbx_chan *requester)
{
	assert_non_null(requester);
	if (!strcmp(dest, "offline"))
		return ENOENT;
	return fake_alloc(chp, dest, true);
}

static int t_call_ch(struct pbx_chan *ch, int timeout_s)
{
	fake_of(ch)->calls++;
	if (strstr(ch->name, "failcall"))
		return EIO;
	if (strstr(ch->name, "busynow")) { /* the driver gives up before call returns */
		pbx_chan_remote_hangup(ch, PBX_CAUSE_BUSY);
		return 0;
	}
	pbx_chan_set_state(ch, PBX_CHAN_DIALING);
	return 0;
}

static int t_answer(struct pbx_chan *ch)
{
	fake_of(ch)->answers++;
	pbx_chan_set_state(ch, PBX_CHAN_UP);
	return 0;
}

static void t_hangup(struct pbx_chan *ch, int cause)
{
	fake_of(ch)->hangup_cause = cause;
}

static int t_indicate(struct pbx_chan *ch, enum pbx_indication ind)
{
	fake_of(ch)->ind |= 1u << ind;
	return 0;
}

static int t_send_dtmf(struct pbx_chan *ch, char digit, int duration_ms)
{
	char *k = fake_of(ch)->dtmf;
	size_t n = strlen(k);
	if (n + 1 < sizeof fake_of(ch)->dtmf)
		k[n] = digit, k[n + 1] = '\0';
	return 0;
}

static const struct pbx_chan_tech test_tech = {
	.name = "TEST",
	.request = t_request,
	.call = t_call_ch,
	.answer = t_answer,
	.hangup = t_hangup,
	.indicate = t_indicate,
	.send_dtmf = t_send_dtmf,
};

extern const struct pbx_module *const __start_pbx_modules[] __attribute__((weak));
extern const struct pbx_module *const __stop_pbx_modules[] __attribute__((weak));

/* Load only the applications' modules: the unit binary has no SIP stack running. */
static int load_apps(bool load)
{
	// cppcheck-suppress comparePointers ; both ends of one linker section
	for (const struct pbx_module *const *m = __start_pbx_modules; m < __stop_pbx_modules; m++) {
		if (strncmp((*m)->name, "app_", 4))
			continue;
		if (!load) {
			(*m)->unload();
			continue;
		}
		int err = (*m)->load();
		if (err)
			return err;
	}
	return 0;
}

static int group_setup(void **state)
{
	uv_loop_init(pbx_loop());
	pbx_app_set_call_ops(&call_ops);
	if (pbx_chan_tech_register(&test_tech))
		return -1;
	return load_apps(true) ? -1 : 0;
}

static int group_teardown(void **state)
{
	load_apps(false);
	pbx_chan_tech_unregister(&test_tech);
	pbx_app_set_call_ops(NULL);
	uv_run(pbx_loop(), UV_RUN_DEFAULT);
	return uv_loop_close(pbx_loop()) ? -1 : 0;
}

static struct pbx_chan *caller;

static int call_setup(void **state)
{
	memset(&the_call, 0, sizeof the_call);
	nfakes = 0;
	fake_alloc(&caller, "caller", false);
	pbx_chan_set_state(caller, PBX_CHAN_RING);
	pbx_chan_set_owner(caller, &engine_events, &the_call);
	return 0;
}

static int call_teardown(void **state)
{
	/* What the applications closed is freed by the loop; then the driver drops its channels. */
	uv_run(pbx_loop(), UV_RUN_DEFAULT);
	for (size_t i = 0; i < nfakes; i++) {
		pbx_chan_set_owner(fakes[i].ch, NULL, NULL);
		pbx_chan_hangup(fakes[i].ch, PBX_CAUSE_NORMAL);
		assert_int_equal(fakes[i].ch->refs, 1); /* no application kept a reference */
		pbx_chan_unref(fakes[i].ch);
	}
	nfakes = 0;
	return 0;
}

/* Run app @p name on the caller with up to six arguments ("" for the rest). */
static int run(const char *name, const char *a0, const char *a1, const char *a2, const char *a3,
	       const char *a4, const char *a5)
{
	const struct pbx_app *app = pbx_app_find(name);
	assert_non_null(app);
	const char *given[] = {a0, a1, a2, a3, a4, a5}, *argv[8];
	size_t n = 0;
	while (app->args[n].name)
		n++;
	assert_true(n <= 6);
	for (size_t i = 0; i < n; i++)
		argv[i] = given[i] ? given[i] : "";
	memset(&the_call, 0, sizeof the_call);
	the_call.app = app;
	the_call.ch = caller;
	int rc = app->exec(caller, argv, &the_call);
	if (rc == EINPROGRESS) {
		assert_non_null(app->cancel);
		the_call.running = true;
	}
	return rc;
}

#define RUN1(n, a)       run(n, a, NULL, NULL, NULL, NULL, NULL)
#define RUN3(n, a, b, c) run(n, a, b, c, NULL, NULL, NULL)

static struct pbx_chan *leg(size_t i)
{
	/* fakes[0] is the caller; outgoing legs follow in dial order. */
	assert_true(i + 1 < nfakes);
	return fakes[i + 1].ch;
}

static const char *var(const char *name)
{
	const char *v = pbx_chan_var_get(caller, name);
	return v ? v : "(unset)";
}

static void test_dial_answer_then_callee_hangs_up(void **state)
{
	assert_int_equal(RUN3("dial", "TEST/a", "", ""), EINPROGRESS);
	assert_int_equal(nfakes, 2);
	assert_int_equal(fakes[1].calls, 1);
	pbx_chan_set_state(leg(0), PBX_CHAN_RINGING);
	assert_true(fake_of(caller)->ind & 1u << PBX_IND_RINGING);
	assert_int_equal(caller->state, PBX_CHAN_RING);
	pbx_chan_set_state(leg(0), PBX_CHAN_UP);
	assert_int_equal(caller->state, PBX_CHAN_UP);
	assert_ptr_equal(pbx_bridge_peer(caller), leg(0));
	assert_string_equal(var("DIALSTATUS"), "ANSWER");
	assert_string_equal(var("DIALEDPEERNAME"), leg(0)->name);
	assert_string_equal(var("DIALEDPEERNUMBER"), "a");
	assert_true(the_call.running);
	/* BYE from the callee: Dial returns, the caller stays for the rest of the script. */
	pbx_chan_remote_hangup(leg(0), PBX_CAUSE_NORMAL);
	assert_true(the_call.finished);
	assert_string_equal(the_call.result, "ANSWER");
	assert_int_equal(caller->state, PBX_CHAN_UP);
	assert_null(pbx_bridge_peer(caller));
	assert_string_equal(var("ANSWEREDTIME"), "0");
}

/* Options t and T: keys that begin a code are held; a code never reaches the other party. */
static void test_dial_feature_keys(void **state)
{
	assert_int_equal(RUN3("dial", "TEST/a", "", "tT"), EINPROGRESS);
	pbx_chan_set_state(leg(0), PBX_CHAN_UP);
	struct pbx_chan *callee = leg(0);
	assert_true(caller->dtmf_held);
	assert_true(callee->dtmf_held);
	assert_non_null(caller->app_ev);
	pbx_chan_remote_dtmf(callee, '5');
	pbx_chan_remote_dtmf(caller, '#');
	assert_string_equal(fake_of(caller)->dtmf, "5");
	assert_string_equal(fake_of(callee)->dtmf, ""); /* held: may begin "##" */
	pbx_chan_remote_dtmf(caller, '1');
	assert_string_equal(fake_of(callee)->dtmf, "#1");
	/* "##" from the callee, then a number the dialplan does not have: back to the call. */
	pbx_chan_remote_dtmf(callee, '#');
	pbx_chan_remote_dtmf(callee, '#');
	pbx_chan_remote_dtmf(callee, '9');
	pbx_chan_remote_dtmf(callee, '#');
	assert_string_equal(fake_of(caller)->dtmf, "5");
	assert_ptr_equal(pbx_bridge_peer(caller), callee);
	pbx_chan_remote_dtmf(callee, '7');
	assert_string_equal(fake_of(caller)->dtmf, "57");
	/* The Dial ends: the keys flow as before, the app's events are given back. */
	pbx_chan_remote_hangup(callee, PBX_CAUSE_NORMAL);
	assert_true(the_call.finished);
	assert_false(caller->dtmf_held);
	assert_false(callee->dtmf_held);
	assert_null(caller->app_ev);
}

/* Without t or T nothing is held: the core passes every key itself. */
static void test_dial_no_feature_keys(void **state)
{
	assert_int_equal(RUN3("dial", "TEST/a", "", "t"), EINPROGRESS);
	pbx_chan_set_state(leg(0), PBX_CHAN_UP);
	assert_false(caller->dtmf_held);
	assert_true(leg(0)->dtmf_held);
	assert_null(caller->app_ev);
	pbx_chan_remote_dtmf(caller, '#');
	assert_string_equal(fake_of(leg(0))->dtmf, "#");
	pbx_chan_remote_hangup(leg(0), PBX_CAUSE_NORMAL);
	assert_false(fakes[1].ch->dtmf_held);
}

static void test_dial_fork_first_answer_wins(void **state)
{
	assert_int_equal(RUN3("dial", "TEST/a&TEST/b&TEST/offline&NOPE/1&junk", "30", ""),
			 EINPROGRESS);
	assert_int_equal(nfakes, 3);
	/* Early media of b reaches the caller. */
	pbx_chan_set_state(leg(1), PBX_CHAN_PROGRESS);
	assert_true(fake_of(caller)->ind & 1u << PBX_IND_PROGRESS);
	assert_ptr_equal(pbx_bridge_peer(caller), leg(1));
	struct pbx_bridge *early_bridge = caller->bridge;
	pbx_chan_set_state(leg(0), PBX_CHAN_UP);
	/* The winner was swapped in: the caller never left its bridge. */
	assert_ptr_equal(caller->bridge, early_bridge);
	assert_int_equal(fakes[2].hangup_cause, 26); /* b: answered elsewhere, CANCEL */
	assert_int_equal(leg(1)->state, PBX_CHAN_HUNGUP);
	assert_int_equal(fakes[1].hangup_cause, 0);
	assert_ptr_equal(pbx_bridge_peer(caller), leg(0));
	assert_int_equal(caller->state, PBX_CHAN_UP);
	/* The caller hangs up: the engine cancels Dial, which sends BYE to the callee. */
	pbx_chan_remote_hangup(caller, PBX_CAUSE_NORMAL);
	assert_true(the_call.cancelled);
	assert_false(the_call.finished);
	assert_int_equal(fakes[1].hangup_cause, PBX_CAUSE_NORMAL);
	assert_string_equal(var("DIALSTATUS"), "ANSWER");
}

static void test_dial_busy_wins_over_unavailable(void **state)
{
	assert_int_equal(RUN3("dial", "TEST/a&TEST/b", "", ""), EINPROGRESS);
	pbx_chan_set_state(leg(0), PBX_CHAN_PROGRESS);
	assert_ptr_equal(pbx_bridge_peer(caller), leg(0));
	pbx_chan_remote_hangup(leg(0), PBX_CAUSE_UNAVAILABLE);
	assert_null(pbx_bridge_peer(caller));
	assert_false(the_call.finished);
	pbx_chan_remote_hangup(leg(1), PBX_CAUSE_BUSY);
	assert_true(the_call.finished);
	assert_string_equal(the_call.result, "BUSY");
	assert_string_equal(var("DIALSTATUS"), "BUSY");
	assert_int_equal(caller->state, PBX_CHAN_RING); /* never answered */
}

static void test_dial_early_media_moves_on(void **state)
{
	assert_int_equal(RUN3("dial", "TEST/a&TEST/b", "", ""), EINPROGRESS);
	pbx_chan_set_state(leg(0), PBX_CHAN_PROGRESS);
	pbx_chan_set_state(leg(1), PBX_CHAN_PROGRESS);
	assert_ptr_equal(pbx_bridge_peer(caller), leg(0));
	pbx_chan_remote_hangup(leg(0), PBX_CAUSE_CONGESTION);
	/* b's early media takes over from a's. */
	assert_ptr_equal(pbx_bridge_peer(caller), leg(1));
	pbx_chan_remote_hangup(leg(1), PBX_CAUSE_UNAVAILABLE);
	assert_string_equal(the_call.result, "CONGESTION");
}

static void test_dial_unavailable_at_once(void **state)
{
	assert_int_equal(RUN3("dial", "TEST/offline&NOPE/1&junk&TEST/failcall", "", ""), 0);
	assert_string_equal(the_call.result, "CHANUNAVAIL");
	assert_string_equal(var("DIALSTATUS"), "CHANUNAVAIL");
	assert_int_equal(nfakes, 2); /* only failcall got a channel, hung up again */
	assert_int_equal(fakes[1].calls, 1);
	assert_int_equal(leg(0)->state, PBX_CHAN_HUNGUP);
	assert_int_equal(RUN3("dial", "", "", ""), 0);
	assert_string_equal(the_call.result, "CHANUNAVAIL");
}

static void test_dial_leg_fails_inside_call(void **state)
{
	/* The first leg is gone before pbx_chan_call returns: the second is still dialled. */
	assert_int_equal(RUN3("dial", "TEST/busynow&TEST/b", "", ""), EINPROGRESS);
	assert_int_equal(nfakes, 3);
	assert_int_equal(fakes[2].calls, 1);
	pbx_chan_remote_hangup(leg(1), PBX_CAUSE_UNAVAILABLE);
	assert_string_equal(the_call.result, "BUSY");

	assert_int_equal(RUN3("dial", "TEST/busynow", "", ""), 0);
	assert_string_equal(the_call.result, "BUSY");
	assert_string_equal(var("DIALSTATUS"), "BUSY");
}

static void test_dial_timeout(void **state)
{
	assert_int_equal(RUN3("dial", "TEST/a&TEST/b", "0.03", ""), EINPROGRESS);
	pbx_chan_set_state(leg(0), PBX_CHAN_RINGING);
	pbx_chan_set_state(leg(1), PBX_CHAN_RINGING);
	uv_run(pbx_loop(), UV_RUN_DEFAULT);
	assert_true(the_call.finished);
	assert_string_equal(the_call.result, "NOANSWER");
	assert_int_equal(fakes[1].hangup_cause, PBX_CAUSE_NO_ANSWER);
	assert_int_equal(fakes[2].hangup_cause, PBX_CAUSE_NO_ANSWER);
	assert_int_equal(caller->state, PBX_CHAN_RING);
}

static void test_dial_caller_cancels(void **state)
{
	assert_int_equal(RUN3("dial", "PJSIP/x&TEST/a&TEST/b", "20", ""), EINPROGRESS);
	pbx_chan_set_state(leg(0), PBX_CHAN_RINGING);
	pbx_chan_remote_hangup(caller, PBX_CAUSE_NORMAL);
	assert_true(the_call.cancelled);
	assert_int_equal(fakes[1].hangup_cause, PBX_CAUSE_CANCEL);
	assert_int_equal(fakes[2].hangup_cause, PBX_CAUSE_CANCEL);
	assert_string_equal(var("DIALSTATUS"), "CANCEL");
}

static void test_dial_option_r(void **state)
{
	assert_int_equal(RUN3("dial", "TEST/a", "", "r"), EINPROGRESS);
	assert_true(fake_of(caller)->ind & 1u << PBX_IND_RINGING);
	pbx_chan_set_state(leg(0), PBX_CHAN_PROGRESS);
	assert_null(pbx_bridge_peer(caller)); /* no early media with r */
	assert_false(fake_of(caller)->ind & 1u << PBX_IND_PROGRESS);
	pbx_chan_remote_hangup(leg(0), PBX_CAUSE_NO_ANSWER);
	assert_string_equal(the_call.result, "NOANSWER");
}

static void test_read_digits(void **state)
{
	assert_int_equal(run("read", "PIN", "", "4", "", "", ""), EINPROGRESS);
	assert_int_equal(caller->state, PBX_CHAN_UP); /* answered first */
	for (const char *d = "12345"; *d; d++)
		pbx_chan_remote_dtmf(caller, *d);
	assert_true(the_call.finished);
	assert_string_equal(the_call.result, "1234");
	assert_string_equal(var("PIN"), "1234");
	assert_string_equal(var("READSTATUS"), "OK");

	/* '#' ends the input and is not part of it. */
	assert_int_equal(run("read", "X", "", "", "", "", ""), EINPROGRESS);
	for (const char *d = "9*#"; *d; d++)
		pbx_chan_remote_dtmf(caller, *d);
	assert_string_equal(the_call.result, "9*");
	assert_string_equal(var("READSTATUS"), "OK");
}

static void test_read_timeout(void **state)
{
	assert_int_equal(run("read", "X", "", "", "n", "3", "0.02"), EINPROGRESS);
	assert_int_equal(caller->state, PBX_CHAN_RING); /* 'n': not answered */
	pbx_chan_remote_dtmf(caller, '5');
	uv_run(pbx_loop(), UV_RUN_DEFAULT);
	/* Some digits then silence: TIMEOUT, with what was typed, and no further attempt. */
	assert_true(the_call.finished);
	assert_string_equal(the_call.result, "5");
	assert_string_equal(var("READSTATUS"), "TIMEOUT");

	/* Nothing at all: every attempt runs out, then TIMEOUT with nothing. */
	uint64_t t0 = uv_now(pbx_loop());
	assert_int_equal(run("read", "X", "", "", "n", "3", "0.02"), EINPROGRESS);
	uv_run(pbx_loop(), UV_RUN_DEFAULT);
	assert_true(uv_now(pbx_loop()) - t0 >= 55);
	assert_string_equal(the_call.result, "");
	assert_string_equal(var("X"), "");
	assert_string_equal(var("READSTATUS"), "TIMEOUT");
}

static void test_read_hangup_and_skip(void **state)
{
	assert_int_equal(run("read", "X", "", "", "s", "", ""), 0);
	assert_string_equal(var("READSTATUS"), "SKIPPED");
	assert_int_equal(caller->state, PBX_CHAN_RING);

	assert_int_equal(run("read", "X", "", "", "", "", ""), EINPROGRESS);
	pbx_chan_remote_dtmf(caller, '7');
	pbx_chan_remote_hangup(caller, PBX_CAUSE_NORMAL);
	assert_true(the_call.cancelled);
	assert_string_equal(var("X"), "7");
	assert_string_equal(var("READSTATUS"), "HANGUP");

	assert_int_equal(run("read", "not a name", "", "", "", "", ""), EINVAL);
	assert_non_null(strstr(the_call.error, "not a variable name"));
}

static void test_echo_until_pound(void **state)
{
	assert_int_equal(run("echo", NULL, NULL, NULL, NULL, NULL, NULL), EINPROGRESS);
	assert_int_equal(caller->state, PBX_CHAN_UP);
	pbx_chan_remote_dtmf(caller, '1');
	assert_false(the_call.finished);
	pbx_chan_remote_dtmf(caller, '#');
	assert_true(the_call.finished);
	assert_null(caller->app_ev);
}

static void test_wait_and_answer_delay(void **state)
{
	assert_int_equal(RUN1("wait", "0"), 0);
	assert_int_equal(RUN1("wait", "-1"), 0);
	uint64_t t0 = uv_now(pbx_loop());
	assert_int_equal(RUN1("wait", "0.03"), EINPROGRESS);
	uv_run(pbx_loop(), UV_RUN_DEFAULT);
	assert_true(the_call.finished);
	assert_true(uv_now(pbx_loop()) - t0 >= 25);

	/* A hangup during the wait cancels it; the loop frees the timer. */
	assert_int_equal(RUN1("wait", "10"), EINPROGRESS);
	pbx_chan_remote_hangup(caller, PBX_CAUSE_NORMAL);
	assert_true(the_call.cancelled);
}

static void test_answer(void **state)
{
	assert_int_equal(RUN1("answer", "20"), EINPROGRESS);
	assert_int_equal(caller->state, PBX_CHAN_UP);
	assert_false(the_call.finished);
	uv_run(pbx_loop(), UV_RUN_DEFAULT);
	assert_true(the_call.finished);
	/* Already up: nothing to do, no delay. */
	assert_int_equal(RUN1("answer", "20"), 0);
	assert_int_equal(fake_of(caller)->answers, 1);
}

static void test_hangup_causes(void **state)
{
	assert_int_equal(RUN1("hangup", "USER_BUSY"), 0);
	assert_int_equal(fakes[0].hangup_cause, PBX_CAUSE_BUSY);
}

static void test_hangup_default_and_bogus(void **state)
{
	assert_int_equal(RUN1("hangup", "bogus"), 0);
	assert_int_equal(fakes[0].hangup_cause, PBX_CAUSE_NORMAL);
	assert_int_equal(caller->state, PBX_CHAN_HUNGUP);
}

static void test_set_and_misc(void **state)
{
	assert_int_equal(RUN1("set", "GREETING=hello, world"), 0);
	assert_string_equal(var("GREETING"), "hello, world");
	assert_int_equal(RUN1("set", "no assignment"), EINVAL);
	assert_non_null(strstr(the_call.error, "NAME=value"));
	assert_int_equal(RUN1("noop", "anything"), 0);
	assert_int_equal(run("verbose", "3", "a message", NULL, NULL, NULL, NULL), 0);
	assert_int_equal(run("verbose", "Hello", " world", NULL, NULL, NULL, NULL), 0);
}

/* Without a media session nothing can play: the applications end at once and say so. */
static void test_prompts_without_media(void **state)
{
	assert_int_equal(run("playback", "demo-congrats", "skip", NULL, NULL, NULL, NULL), 0);
	assert_string_equal(var("PLAYBACKSTATUS"), "SUCCESS");
	assert_int_equal(caller->state, PBX_CHAN_RING);
	assert_int_equal(run("playback", "demo-congrats", "noanswer", NULL, NULL, NULL, NULL), 0);
	assert_true(fake_of(caller)->ind & 1u << PBX_IND_PROGRESS);
	assert_int_equal(caller->state, PBX_CHAN_RING);
	assert_string_equal(the_call.result, "FAILED");
	assert_int_equal(run("playback", "demo-congrats&beep", NULL, NULL, NULL, NULL, NULL), 0);
	assert_int_equal(caller->state, PBX_CHAN_UP);
	assert_string_equal(var("PLAYBACKSTATUS"), "FAILED");
	assert_int_equal(run("background", "demo-congrats", NULL, NULL, NULL, NULL, NULL), 0);
	assert_string_equal(the_call.result, "");
	assert_string_equal(var("BACKGROUNDSTATUS"), "FAILED");
	assert_int_equal(RUN1("saydigits", "12#"), 0);
	assert_null(caller->app_ev);
}
static const struct CMUnitTest tests[] = {
	cmocka_unit_test(test_dial_parse),
	cmocka_unit_test(test_dial_parse_blanks_and_empty),
	cmocka_unit_test(test_dial_parse_malformed),
	cmocka_unit_test(test_dial_parse_too_many),
	cmocka_unit_test(test_dial_pjsip_alias),
	cmocka_unit_test(test_cause_dialstatus),
	cmocka_unit_test(test_dial_status_of),
	cmocka_unit_test(test_dial_opts),
	cmocka_unit_test(test_read_defaults),
	cmocka_unit_test(test_read_args),
	cmocka_unit_test(test_read_bad_variable),
	cmocka_unit_test(test_set_parse),
	cmocka_unit_test(test_set_parse_errors),
	cmocka_unit_test(test_sound_path),
	cmocka_unit_test(test_tone_parse),
	cmocka_unit_test(test_recording_numbers),
	cmocka_unit_test(test_player_list),
	cmocka_unit_test(test_player_events),
	cmocka_unit_test(test_var_name),
	cmocka_unit_test(test_sounds_committed),
	cmocka_unit_test_setup_teardown(test_dial_answer_then_callee_hangs_up, call_setup,
					call_teardown),
	cmocka_unit_test_setup_teardown(test_dial_fork_first_answer_wins, call_setup,
					call_teardown),
	cmocka_unit_test_setup_teardown(test_dial_busy_wins_over_unavailable, call_setup,
					call_teardown),
	cmocka_unit_test_setup_teardown(test_dial_early_media_moves_on, call_setup, call_teardown),
	cmocka_unit_test_setup_teardown(test_dial_unavailable_at_once, call_setup, call_teardown),
	cmocka_unit_test_setup_teardown(test_dial_leg_fails_inside_call, call_setup, call_teardown),
	cmocka_unit_test_setup_teardown(test_dial_timeout, call_setup, call_teardown),
	cmocka_unit_test_setup_teardown(test_dial_caller_cancels, call_setup, call_teardown),
	cmocka_unit_test_setup_teardown(test_dial_option_r, call_setup, call_teardown),
	cmocka_unit_test_setup_teardown(test_dial_feature_keys, call_setup, call_teardown),
	cmocka_unit_test_setup_teardown(test_dial_no_feature_keys, call_setup, call_teardown),
	cmocka_unit_test_setup_teardown(test_read_digits, call_setup, call_teardown),
	cmocka_unit_test_setup_teardown(test_read_timeout, call_setup, call_teardown),
	cmocka_unit_test_setup_teardown(test_read_hangup_and_skip, call_setup, call_teardown),
	cmocka_unit_test_setup_teardown(test_echo_until_pound, call_setup, call_teardown),
	cmocka_unit_test_setup_teardown(test_wait_and_answer_delay, call_setup, call_teardown),
	cmocka_unit_test_setup_teardown(test_answer, call_setup, call_teardown),
	cmocka_unit_test_setup_teardown(test_hangup_causes, call_setup, call_teardown),
	cmocka_unit_test_setup_teardown(test_hangup_default_and_bogus, call_setup, call_teardown),
	cmocka_unit_test_setup_teardown(test_set_and_misc, call_setup, call_teardown),
	cmocka_unit_test_setup_teardown(test_prompts_without_media, call_setup, call_teardown),
};

UNIT_GROUP(apps, tests, group_setup, group_teardown);
