/**
 * @file vm_mail.c  Voicemail mail notification: a queue of mails sent by libcurl's SMTP
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * When a message is deposited and voicemail.email.server is set, a mail
 * for the mailbox's user (their `email`) joins the queue. One mail
 * at a time is built (vm_mail_mime.c: the WAV read and base64-encoded) and
 * sent in libuv's thread pool, because SMTP may wait on the network for
 * many seconds and the WAV may be megabytes: nothing here blocks the
 * signalling thread. A failure is logged with the server's answer and
 * retried after voicemail.email.retry_seconds, doubled each time up to an
 * hour, until max_tries; the voicemail message itself is never touched.
 *
 * The queue survives a restart: each mail is also a row of the directory's
 * vm_mail table (pbx_vm_mail_save), written when it is queued and after
 * each failure, deleted when it is sent or given up. Only what a restart
 * cannot rebuild is stored (message, recipient, VM_MSGNUM, tries, next
 * try, last error); the text is made again from the message at start, and
 * a mail whose message was deleted meanwhile is dropped. That costs one
 * small SQLite write per queued mail and per failure, on this thread, as
 * the deposit itself does. A mail that was being sent when the PBX stopped
 * keeps its row: should that transfer still have succeeded, the mail goes
 * out again after the restart, with the same Message-ID, so a server or
 * reader can tell the copy. One sender is enough for an office:
 * a mail takes a second to send and messages arrive minutes apart. It also
 * means a mail server that hangs holds at most one of libuv's pool threads
 * (4 by default; recordings write from the others), for at most TOTAL_S.
 *
 * Threads: the queue belongs to the signalling thread. While a job runs,
 * its entry is only read (by both sides) and the job writes its results
 * into the job struct, which the signalling thread reads in job_done.
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <uv.h>

#include "pbx/buf.h"
#include "pbx/cli.h"
#include "pbx/core.h"
#include "pbx/directory.h"
#include "pbx/log.h"
#include "pbx/module.h"
#include "pbx/voicemail.h"
#include "apps.h"
#include "vm_mail.h"

/* Pending mails kept at most: a dead mail server must not grow memory without bound. */
#define QUEUE_MAX 1000
/* A back-off never waits longer than this between tries. */
#define RETRY_MAX_S 3600
#define CONNECT_S   10
/* The whole SMTP dialogue, a 5-minute message's 13 MB of base64 included. */
#define TOTAL_S 300
/* A larger file is not attached (servers refuse mails of 25 MB and more). */
#define ATTACH_MAX (20u << 20)

/* The voicemail section has defaults for both; these are for a section without them. */
static const char def_subject[] = "New voicemail in mailbox ${VM_MAILBOX}";
static const char def_body[] = "${VM_CALLERID} left a message of ${VM_DUR} on ${VM_DATE}.\n";

struct vm_mail {
	struct vm_mail *next;
	unsigned id;     /* in the queue, for the console and logs */
	int64_t msg;     /* the voicemail message */
	unsigned msgnum; /* VM_MSGNUM: kept so that a restart makes the same subject */
	char mailbox[PBX_EXT_MAX + 1];
	char rcpt[sizeof((struct pbx_user *)0)->email];
	char wav[sizeof((struct pbx_vm_msg *)0)->path]; /* "" when nothing is attached */
	char from[256], from_addr[256];
	char date[48], msgid[256];
	char *subject, *body;
	/* Signalling thread only: */
	unsigned tries;  /* failed attempts so far */
	uint64_t due;    /* loop time (ms) of the next attempt */
	char error[512]; /* the last failure, "" before any */
};

struct vm_mail_job {
	uv_work_t req;
	struct vm_mail *m; /* read only while the job runs */
	char url[300], user[256], password[256];
	int security;
	bool orphan; /* the module unloaded while the job ran: job_done frees all */
	/* Written by the worker, read in job_done: */
	CURLcode code;
	long response;
	char errbuf[CURL_ERROR_SIZE];
	char reply[200]; /* the server's answer, see debug_cb */
	bool reply_err;  /* reply is a refusal (4xx, 5xx) */
	char note[160];  /* something short of failure: the attachment left out */
};

static struct {
	bool loaded;
	uv_timer_t timer;
	struct vm_mail *head, **tail;
	unsigned count, last_id;
	struct vm_mail_job *job; /* the one in flight, NULL when idle */
} mq;

/* Set at unload: a transfer in flight gives up at its next progress call. */
static atomic_bool mq_abort;

static void pump(void);

static void mail_free(struct vm_mail *m)
{
	free(m->subject);
	free(m->body);
	free(m);
}

static void queue_remove(struct vm_mail *m)
{
	for (struct vm_mail **pp = &mq.head; *pp; pp = &(*pp)->next) {
		if (*pp == m) {
			*pp = m->next;
			if (mq.tail == &m->next)
				mq.tail = pp;
			mq.count--;
			return;
		}
	}
}

/* Store @p m's row: the next try as wall-clock time, so it means the same after a restart. */
static void mail_save(const struct vm_mail *m)
{
	uint64_t now = uv_now(pbx_loop());
	struct pbx_vm_mail r = {
		.id = m->id,
		.msg = m->msg,
		.msgnum = m->msgnum,
		.tries = m->tries,
		.next = (int64_t)time(NULL) +
			(m->due > now ? (int64_t)((m->due - now + 999) / 1000) : 0),
	};
	snprintf(r.mailbox, sizeof r.mailbox, "%s", m->mailbox);
	snprintf(r.rcpt, sizeof r.rcpt, "%s", m->rcpt);
	snprintf(r.error, sizeof r.error, "%s", m->error);
	if (pbx_vm_mail_save(&r))
		pbx_warning("voicemail: mail %u to %s not saved: a restart would lose it", m->id,
			    m->rcpt);
}

/* Done with @p m, sent or given up: out of the queue and the table. */
static void mail_forget(struct vm_mail *m)
{
	if (pbx_vm_mail_del(m->id))
		pbx_warning("voicemail: mail %u to %s still saved: a restart would send it again",
			    m->id, m->rcpt);
	queue_remove(m);
	mail_free(m);
}

static void queue_append(struct vm_mail *m)
{
	*mq.tail = m;
	mq.tail = &m->next;
	mq.count++;
}

/* ---- the worker ---------------------------------------------------------------------------- */

struct reader {
	const char *p;
	size_t left;
};

static size_t read_cb(char *dst, size_t size, size_t nmemb, void *arg)
{
	struct reader *r = arg;
	size_t n = size * nmemb < r->left ? size * nmemb : r->left;
	memcpy(dst, r->p, n);
	r->p += n;
	r->left -= n;
	return n;
}

static int progress_cb(void *arg, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un)
{
	return atomic_load(&mq_abort) ? 1 : 0;
}

/*
 * Keeps the server's reply that says why a mail was refused: the first
 * 4xx or 5xx line (a QUIT's "221 Bye" follows it), else the last line.
 */
static int debug_cb(CURL *c, curl_infotype type, char *data, size_t size, void *arg)
{
	struct vm_mail_job *j = arg;
	if (type != CURLINFO_HEADER_IN || !size)
		return 0;
	char line[sizeof j->reply];
	size_t n = size < sizeof line - 1 ? size : sizeof line - 1;
	memcpy(line, data, n);
	line[n] = '\0';
	line[strcspn(line, "\r\n")] = '\0';
	if (j->reply_err)
		return 0;
	j->reply_err = line[0] == '4' || line[0] == '5';
	vm_mail_clean(j->reply, sizeof j->reply, line);
	return 0;
}

/* The WAV's bytes into @p *data (malloc), or a note why it is left out. */
static int read_wav(struct vm_mail_job *j, unsigned char **data, size_t *len)
{
	FILE *f = fopen(j->m->wav, "rb");
	struct stat st;
	int err = 0;
	*data = NULL;
	*len = 0;
	if (!f || fstat(fileno(f), &st)) {
		err = errno;
	} else if ((uint64_t)st.st_size > ATTACH_MAX) {
		err = EFBIG;
	} else if (!(*data = malloc(st.st_size ? (size_t)st.st_size : 1))) {
		err = ENOMEM;
	} else if (fread(*data, 1, (size_t)st.st_size, f) != (size_t)st.st_size) {
		err = EIO;
		free(*data);
		*data = NULL;
	} else {
		*len = (size_t)st.st_size;
	}
	if (f)
		fclose(f);
	if (err)
		snprintf(j->note, sizeof j->note, "sent without its attachment (%s)",
			 strerror(err));
	return err;
}

static void job_run(uv_work_t *req)
{
	struct vm_mail_job *j = req->data;
	const struct vm_mail *m = j->m;
	unsigned char seed[12], *wav = NULL;
	size_t wav_len = 0;
	char boundary[64], name[128];
	struct pbx_buf msg;
	pbx_buf_init(&msg);

	/* Only the boundary's uniqueness matters here, not secrecy: a clock will do too. */
	if (getrandom(seed, sizeof seed, GRND_NONBLOCK) != (ssize_t)sizeof seed) {
		uint64_t t = uv_hrtime();
		memset(seed, 0, sizeof seed);
		memcpy(seed, &t, sizeof t);
		memcpy(seed + sizeof t, &m->id, sizeof m->id);
	}
	vm_mail_boundary(boundary, sizeof boundary, seed, sizeof seed);
	/* The stored file's own name ("msg0007.wav"), so the mail and the mailbox agree. */
	const char *base = strrchr(m->wav, '/');
	if (base && base[1])
		snprintf(name, sizeof name, "%s", base + 1);
	else
		snprintf(name, sizeof name, "msg%lld.wav", (long long)m->msg);
	if (m->wav[0])
		read_wav(j, &wav, &wav_len);
	struct vm_mail_parts parts = {
		.from = m->from,
		.to = m->rcpt,
		.subject = m->subject,
		.body = m->body,
		.date = m->date,
		.msgid = m->msgid,
		.boundary = boundary,
		.attach_name = wav ? name : NULL,
		.attach = wav,
		.attach_len = wav_len,
	};
	int err = vm_mail_build(&msg, &parts);
	free(wav);
	if (err) {
		j->code = CURLE_OUT_OF_MEMORY;
		goto out;
	}

	CURL *c = curl_easy_init();
	if (!c) {
		j->code = CURLE_FAILED_INIT;
		goto out;
	}
	char env_from[300], env_rcpt[300];
	snprintf(env_from, sizeof env_from, "<%s>", m->from_addr);
	snprintf(env_rcpt, sizeof env_rcpt, "<%s>", m->rcpt);
	struct curl_slist *rcpt = curl_slist_append(NULL, env_rcpt);
	struct reader rd = {msg.data, msg.len};
	curl_easy_setopt(c, CURLOPT_URL, j->url);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L); /* no SIGALRM in a pool thread */
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, j->errbuf);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, (long)CONNECT_S);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, (long)TOTAL_S);
	/* "try": STARTTLS when the server offers it, as most MTAs do among themselves. */
	long use_ssl = j->security == PBX_VM_MAIL_STARTTLS ? (long)CURLUSESSL_ALL
		       : j->security == PBX_VM_MAIL_TRY    ? (long)CURLUSESSL_TRY
							   : (long)CURLUSESSL_NONE;
	curl_easy_setopt(c, CURLOPT_USE_SSL, use_ssl);
	if (j->user[0]) {
		curl_easy_setopt(c, CURLOPT_USERNAME, j->user);
		curl_easy_setopt(c, CURLOPT_PASSWORD, j->password);
	}
	curl_easy_setopt(c, CURLOPT_MAIL_FROM, env_from);
	curl_easy_setopt(c, CURLOPT_MAIL_RCPT, rcpt);
	curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
	curl_easy_setopt(c, CURLOPT_READFUNCTION, read_cb);
	curl_easy_setopt(c, CURLOPT_READDATA, &rd);
	curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, progress_cb);
	/* Verbose only feeds debug_cb, which keeps the server's replies; nothing is printed. */
	curl_easy_setopt(c, CURLOPT_VERBOSE, 1L);
	curl_easy_setopt(c, CURLOPT_DEBUGFUNCTION, debug_cb);
	curl_easy_setopt(c, CURLOPT_DEBUGDATA, j);
	j->code = rcpt ? curl_easy_perform(c) : CURLE_OUT_OF_MEMORY;
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &j->response);
	curl_easy_cleanup(c);
	curl_slist_free_all(rcpt);
out:
	pbx_buf_free(&msg);
}

/* ---- the queue (signalling thread) --------------------------------------------------------- */

unsigned vm_mail_backoff(unsigned first, unsigned tries)
{
	unsigned delay = first;
	for (unsigned i = 1; i < tries && delay < RETRY_MAX_S; i++)
		delay *= 2;
	return delay < RETRY_MAX_S ? delay : RETRY_MAX_S;
}

static void job_done(uv_work_t *req, int status)
{
	struct vm_mail_job *j = req->data;
	struct vm_mail *m = j->m;
	if (status == UV_ECANCELED)
		j->code = CURLE_ABORTED_BY_CALLBACK;
	if (j->orphan) {
		/*
		 * The directory's statements are finalized by now: the row stays
		 * either way, and a mail sent at the last moment goes again at the
		 * next start (see the file comment).
		 */
		if (j->code == CURLE_OK)
			pbx_notice("voicemail: mail %u for message %lld of %s sent to %s", m->id,
				   (long long)m->msg, m->mailbox, m->rcpt);
		else
			pbx_warning("voicemail: mail %u to %s interrupted at stop; it is sent at "
				    "the next start",
				    m->id, m->rcpt);
		mail_free(m);
		free(j);
		if (!mq.loaded)
			curl_global_cleanup(); /* left to us by unload */
		return;
	}
	mq.job = NULL;
	if (j->note[0])
		pbx_warning("voicemail: mail %u to %s %s", m->id, m->rcpt, j->note);
	if (j->code == CURLE_OK) {
		pbx_notice("voicemail: mail %u for message %lld of %s sent to %s", m->id,
			   (long long)m->msg, m->mailbox, m->rcpt);
		mail_forget(m);
		free(j);
		pump();
		return;
	}
	const struct pbx_vm_cfg *cfg = pbx_vm_cfg();
	m->tries++;
	const char *why = j->errbuf[0] ? j->errbuf : curl_easy_strerror(j->code);
	if (j->reply[0])
		snprintf(m->error, sizeof m->error, "%s; server said: %s", why, j->reply);
	else if (j->response)
		snprintf(m->error, sizeof m->error, "%s; server said: %ld", why, j->response);
	else
		snprintf(m->error, sizeof m->error, "%s", why);
	unsigned max = cfg->email.max_tries > 0 ? (unsigned)cfg->email.max_tries : 1;
	if (m->tries >= max) {
		pbx_error("voicemail: mail %u for message %lld of %s to %s given up after %u "
			  "tries: %s",
			  m->id, (long long)m->msg, m->mailbox, m->rcpt, m->tries, m->error);
		mail_forget(m);
	} else {
		unsigned delay = vm_mail_backoff(
			cfg->email.retry_seconds > 0 ? (unsigned)cfg->email.retry_seconds : 1,
			m->tries);
		m->due = uv_now(pbx_loop()) + (uint64_t)delay * 1000;
		pbx_warning("voicemail: mail %u to %s failed (try %u of %u): %s; next try in %u s",
			    m->id, m->rcpt, m->tries, max, m->error, delay);
		mail_save(m);
	}
	free(j);
	pump();
}

static int job_start(struct vm_mail *m)
{
	const struct pbx_vm_cfg *cfg = pbx_vm_cfg();
	struct vm_mail_job *j = calloc(1, sizeof *j);
	if (!j)
		return ENOMEM;
	/* Heard and saved meanwhile, the message is in another folder now: attach it from there. */
	struct pbx_vm_msg cur;
	if (m->wav[0] && !pbx_vm_find(m->msg, &cur))
		snprintf(m->wav, sizeof m->wav, "%s", cur.path);
	j->m = m;
	j->req.data = j;
	j->security = cfg->email.security;
	const char *host = cfg->email.server;
	/* An IPv6 literal goes in brackets in a URL. */
	bool v6 = strchr(host, ':') && host[0] != '[';
	snprintf(j->url, sizeof j->url, "%s://%s%s%s:%d",
		 cfg->email.security == PBX_VM_MAIL_TLS ? "smtps" : "smtp", v6 ? "[" : "", host,
		 v6 ? "]" : "", cfg->email.port);
	snprintf(j->user, sizeof j->user, "%s", cfg->email.user ? cfg->email.user : "");
	snprintf(j->password, sizeof j->password, "%s",
		 cfg->email.password ? cfg->email.password : "");
	int err = uv_queue_work(pbx_loop(), &j->req, job_run, job_done);
	if (err) {
		free(j);
		return EIO;
	}
	mq.job = j;
	return 0;
}

static void on_timer(uv_timer_t *t)
{
	pump();
}

/* Start the next due mail, or arm the timer for it. Linear in the queue: a handful. */
static void pump(void)
{
	if (!mq.loaded || mq.job)
		return;
	struct vm_mail *next = NULL;
	for (struct vm_mail *m = mq.head; m; m = m->next)
		if (!next || m->due < next->due)
			next = m;
	if (!next) {
		uv_timer_stop(&mq.timer);
		return;
	}
	uint64_t now = uv_now(pbx_loop());
	if (next->due > now) {
		uv_timer_start(&mq.timer, on_timer, next->due - now, 0);
		return;
	}
	if (job_start(next)) {
		/* Cannot happen with a live loop; try again in a second rather than stall. */
		next->due = now + 1000;
		uv_timer_start(&mq.timer, on_timer, 1000, 0);
	}
}

/* The Message-ID's right side: the From domain, else this host's name. */
static void msgid_host(char *out, size_t size, const char *from_addr)
{
	const char *at = strrchr(from_addr, '@');
	char host[256] = "localhost";
	if (at && at[1])
		snprintf(host, sizeof host, "%s", at + 1);
	else if (gethostname(host, sizeof host))
		snprintf(host, sizeof host, "localhost");
	host[sizeof host - 1] = '\0';
	size_t o = 0;
	for (const char *c = host; *c && o + 1 < size; c++)
		if ((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
		    (*c >= '0' && *c <= '9') || *c == '.' || *c == '-')
			out[o++] = *c;
	out[o] = '\0';
}

static char *expand(const char *tmpl, const struct vm_mail_vars *v)
{
	struct pbx_buf b;
	pbx_buf_init(&b);
	if (vm_mail_expand(&b, tmpl, v) || pbx_buf_append(&b, "", 1)) {
		pbx_buf_free(&b);
		return NULL;
	}
	return b.data; /* the buffer's storage becomes the string */
}

/*
 * A mail about @p msg for @p rcpt, its text made from the templates in
 * force, into @p *mp (not queued). @p id is its queue id, @p msgnum its
 * VM_MSGNUM. 0 or ENOMEM.
 */
static int mail_alloc(struct vm_mail **mp, const struct pbx_vm_msg *msg, const char *user_name,
		      const char *rcpt, unsigned id, unsigned msgnum)
{
	const struct pbx_vm_cfg *cfg = pbx_vm_cfg();
	struct vm_mail *m = calloc(1, sizeof *m);
	int err = ENOMEM;
	if (!m)
		goto out;
	struct vm_mail_vars v;
	struct vm_mail_store st;
	vm_mail_vars_fill(&v, &st, user_name, msg->mailbox, msg->cid_num, msg->cid_name, msg->time,
			  msg->duration_ms, msgnum);
	m->subject = expand(cfg->email.subject ? cfg->email.subject : def_subject, &v);
	m->body = expand(cfg->email.body ? cfg->email.body : def_body, &v);
	if (!m->subject || !m->body)
		goto out;
	m->id = id;
	m->msg = msg->id;
	m->msgnum = msgnum;
	snprintf(m->mailbox, sizeof m->mailbox, "%s", msg->mailbox);
	snprintf(m->rcpt, sizeof m->rcpt, "%s", rcpt);
	if (cfg->email.attach)
		snprintf(m->wav, sizeof m->wav, "%s", msg->path);
	char host[128];
	gethostname(host, sizeof host);
	host[sizeof host - 1] = '\0';
	if (cfg->email.from) {
		snprintf(m->from, sizeof m->from, "%s", cfg->email.from);
	} else {
		snprintf(m->from, sizeof m->from, "pbx@%s", host);
	}
	vm_mail_addr(m->from_addr, sizeof m->from_addr, m->from);
	vm_mail_date(m->date, sizeof m->date, msg->time);
	msgid_host(host, sizeof host, m->from_addr);
	/*
	 * The same Message-ID on every try, before and after a restart, lets a
	 * server that got one twice drop a copy. The message's id and time make
	 * it unique: a message id is reused only after the newest is deleted.
	 */
	snprintf(m->msgid, sizeof m->msgid, "<vm.%lld.%lld.%u@%s>", (long long)msg->id,
		 (long long)msg->time, m->id, host);
	m->due = uv_now(pbx_loop());
	*mp = m;
	return 0;
out:
	if (m)
		mail_free(m);
	return err;
}

static void on_deposit(const struct pbx_vm_msg *msg)
{
	const struct pbx_vm_cfg *cfg = pbx_vm_cfg();
	struct pbx_user u;
	if (!cfg->email.server)
		return;
	int err = pbx_user_find(pbx_dir(), msg->mailbox, &u);
	if (err) {
		pbx_warning("voicemail: no mail for message %lld of %s: user not found (%s)",
			    (long long)msg->id, msg->mailbox, strerror(err));
		return;
	}
	if (!u.email[0] || strpbrk(u.email, "\r\n<> ")) {
		pbx_debug("voicemail: %s has no usable email; no mail for message %lld",
			  msg->mailbox, (long long)msg->id);
		return;
	}
	if (mq.count >= QUEUE_MAX) {
		pbx_error("voicemail: mail queue full (%u); no mail for message %lld of %s",
			  mq.count, (long long)msg->id, msg->mailbox);
		return;
	}
	/* The message's number among the new ones, as Asterisk's VM_MSGNUM; its id if unknown. */
	struct pbx_vm_counts counts;
	unsigned msgnum = (unsigned)msg->id;
	if (!pbx_vm_counts(msg->mailbox, &counts) && counts.new_msgs)
		msgnum = counts.new_msgs;
	struct vm_mail *m;
	if (mail_alloc(&m, msg, u.name, u.email, mq.last_id + 1, msgnum)) {
		pbx_error("voicemail: out of memory; no mail for message %lld of %s",
			  (long long)msg->id, msg->mailbox);
		return;
	}
	mq.last_id++;
	queue_append(m);
	mail_save(m);
	pbx_info("voicemail: mail %u for message %lld of %s queued to %s", m->id,
		 (long long)msg->id, msg->mailbox, m->rcpt);
	pump();
}

/* One saved mail back into the queue at start; see the file comment. */
static int reload_one(const struct pbx_vm_mail *r, void *arg)
{
	unsigned *n = arg;
	/* Taken first, so that no new mail reuses the id of a row left in the table. */
	if (r->id > mq.last_id)
		mq.last_id = r->id;
	struct pbx_vm_msg msg;
	int err = pbx_vm_find(r->msg, &msg);
	if (err == ENOENT) {
		pbx_notice("voicemail: mail %u for message %lld of %s to %s dropped: the message "
			   "no longer exists",
			   r->id, (long long)r->msg, r->mailbox, r->rcpt);
		pbx_vm_mail_del(r->id);
		return 0;
	}
	if (err || mq.count >= QUEUE_MAX) {
		pbx_error("voicemail: mail %u for message %lld of %s not reloaded (%s); kept for "
			  "the next start",
			  r->id, (long long)r->msg, r->mailbox, err ? strerror(err) : "queue full");
		return 0;
	}
	/* The name as it is now; the recipient as it was when the mail was queued. */
	struct pbx_user u;
	const char *name = pbx_user_find(pbx_dir(), msg.mailbox, &u) ? NULL : u.name;
	struct vm_mail *m;
	if (mail_alloc(&m, &msg, name, r->rcpt, r->id, r->msgnum)) {
		pbx_error("voicemail: out of memory; mail %u kept for the next start", r->id);
		return 0;
	}
	m->tries = r->tries;
	snprintf(m->error, sizeof m->error, "%s", r->error);
	int64_t wait_s = r->next - (int64_t)time(NULL);
	if (wait_s > 0)
		m->due += (uint64_t)(wait_s < RETRY_MAX_S ? wait_s : RETRY_MAX_S) * 1000;
	queue_append(m);
	(*n)++;
	return 0;
}

static int count_one(const struct pbx_vm_mail *r, void *arg)
{
	(*(unsigned *)arg)++;
	return 0;
}

/* The mails saved by the last run, queued again (mail on) or left in the table (off). */
static void reload(void)
{
	unsigned n = 0;
	if (!pbx_vm_cfg()->email.server) {
		pbx_vm_mail_each(count_one, &n);
		if (n)
			pbx_notice("voicemail: %u pending mail%s kept until voicemail.email.server "
				   "is set",
				   n, n == 1 ? "" : "s");
		return;
	}
	pbx_vm_mail_each(reload_one, &n);
	if (n)
		pbx_notice("voicemail: %u pending mail%s from before the restart queued", n,
			   n == 1 ? "" : "s");
	pump();
}

/* ---- console ------------------------------------------------------------------------------- */

static int show_queue(struct pbx_cli *cli, const struct pbx_cli_args *a)
{
	bool json = pbx_cli_flag(a, "--json");
	uint64_t now = uv_now(pbx_loop());
	time_t wall = time(NULL);
	int n = 0;
	if (json)
		pbx_cli_printf(cli, "[");
	else if (!pbx_vm_cfg()->email.server)
		pbx_cli_printf(cli, "Mail notification is off (voicemail.email.server not set).\n");
	else
		pbx_cli_printf(cli, "%-5s %-10s %-8s %-28s %-5s %-14s %s\n", "Id", "Mailbox",
			       "Message", "Recipient", "Tries", "Next attempt", "Last error");
	for (const struct vm_mail *m = mq.head; m; m = m->next, n++) {
		bool sending = mq.job && mq.job->m == m;
		uint64_t wait_s = m->due > now ? (m->due - now + 999) / 1000 : 0;
		if (json) {
			pbx_buf_printf(&cli->out, "%s{\"id\":%u,\"mailbox\":", n ? ",\n " : "",
				       m->id);
			pbx_buf_json_str(&cli->out, m->mailbox);
			pbx_buf_printf(&cli->out,
				       ",\"message\":%lld,\"recipient\":", (long long)m->msg);
			pbx_buf_json_str(&cli->out, m->rcpt);
			pbx_buf_printf(&cli->out,
				       ",\"tries\":%u,\"sending\":%s,\"next_attempt\":%lld,"
				       "\"last_error\":",
				       m->tries, sending ? "true" : "false",
				       (long long)(wall + (time_t)wait_s));
			pbx_buf_json_str(&cli->out, m->error);
			pbx_buf_puts(&cli->out, "}");
			continue;
		}
		char next[32];
		if (sending)
			snprintf(next, sizeof next, "sending");
		else if (!wait_s)
			snprintf(next, sizeof next, "now");
		else
			snprintf(next, sizeof next, "in %llu s", (unsigned long long)wait_s);
		pbx_cli_printf(cli, "%-5u %-10s %-8lld %-28s %-5u %-14s %s\n", m->id, m->mailbox,
			       (long long)m->msg, m->rcpt, m->tries, next,
			       m->error[0] ? m->error : "-");
	}
	if (json)
		return pbx_cli_printf(cli, "]\n");
	return pbx_cli_printf(cli, "%d pending mail%s\n", n, n == 1 ? "" : "s");
}

static const struct pbx_cli_cmd cmds[] = {
	{"voicemail show queue [--json]", "list mails about new voicemail not sent yet",
	 "Each pending mail: its queue id, mailbox, message id, recipient, failed tries, when "
	 "the next try is, and the last error with the server's answer. The queue is kept in "
	 "the database: after a restart the pending mails are sent (a mail whose message was "
	 "deleted meanwhile is dropped).",
	 show_queue},
};

/* ---- module -------------------------------------------------------------------------------- */

static int vm_mail_load(void)
{
	if (curl_global_init(CURL_GLOBAL_DEFAULT)) {
		pbx_error("voicemail: libcurl failed to initialise");
		return EIO;
	}
	int err = pbx_vm_watch_deposit(on_deposit);
	if (!err && (err = pbx_cli_register_all(cmds, sizeof cmds / sizeof *cmds)))
		pbx_vm_unwatch_deposit(on_deposit);
	if (err) {
		curl_global_cleanup();
		return err;
	}
	atomic_store(&mq_abort, false);
	uv_timer_init(pbx_loop(), &mq.timer);
	mq.head = NULL;
	mq.tail = &mq.head;
	mq.count = 0;
	mq.job = NULL;
	mq.last_id = 0;
	mq.loaded = true;
	reload();
	return 0;
}

static void vm_mail_unload(void)
{
	pbx_cli_unregister_all(cmds, sizeof cmds / sizeof *cmds);
	pbx_vm_unwatch_deposit(on_deposit);
	mq.loaded = false;
	uv_close((uv_handle_t *)&mq.timer, NULL);
	unsigned kept = 0;
	for (struct vm_mail *m = mq.head, *next; m; m = next) {
		next = m->next;
		kept++; /* the one being sent too: its row stays, whatever job_done learns */
		if (mq.job && mq.job->m == m)
			continue; /* job_done frees it */
		mail_free(m);
	}
	mq.head = NULL;
	mq.tail = &mq.head;
	mq.count = 0;
	if (kept)
		pbx_notice("voicemail: %u pending mail%s kept for the next start", kept,
			   kept == 1 ? "" : "s");
	if (mq.job) {
		/*
		 * The core runs the loop until every request is done, so job_done
		 * still comes: not yet started, the job is cancelled; running, its
		 * transfer stops at the next progress call (well under a second).
		 * libcurl is cleaned up there, after its last user.
		 */
		mq.job->orphan = true;
		atomic_store(&mq_abort, true);
		uv_cancel((uv_req_t *)&mq.job->req);
		mq.job = NULL;
		return;
	}
	curl_global_cleanup();
}

PBX_MODULE(vm_mail_module) = {"vm_mail", APPS_MODULE_ORDER, vm_mail_load, vm_mail_unload};
