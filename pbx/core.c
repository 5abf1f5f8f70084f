/**
 * @file core.c  Start-up, the signalling event loop, and orderly stop
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core_priv.h"
#include "pbx/chan.h"
#include "pbx/config.h"
#include "pbx/core.h"
#include "pbx/directory.h"
#include "pbx/log.h"
#include "pbx/media.h"
#include "pbx/module.h"

static struct {
	uv_loop_t loop;
	struct pbx_config *cfg;
	struct pbx_dir *dir;
	time_t started;
	bool stopping;          /* refusing new work */
	bool graceful;          /* waiting for calls to end */
	unsigned stop_timeout;  /* of this graceful stop, seconds; 0: no limit */
	uint64_t stop_deadline; /* uv_now() when the calls still up are ended; 0: never */
	int signals;            /* SIGINT/SIGTERM seen */
	uv_signal_t sigint, sigterm;
	uv_timer_t stop_timer;
	uv_timer_t trim_timer;
	uv_async_t console_done; /* the foreground console thread ended */
	pbx_busy_probe_h *busy;
	char sock[PATH_MAX];
} core;

uv_loop_t *pbx_loop(void)
{
	return &core.loop;
}

static char auth_realm[128];

void pbx_auth_realm_set(const char *realm)
{
	snprintf(auth_realm, sizeof auth_realm, "%s", realm ? realm : "");
}

const char *pbx_auth_realm(void)
{
	return auth_realm;
}

const struct pbx_config *pbx_cfg(void)
{
	return core.cfg;
}

const char *pbx_sounds_dir(void)
{
	return core.cfg ? pbx_config_core(core.cfg)->sounds_dir : PBX_SOUNDS_DIR;
}

struct pbx_dir *pbx_dir(void)
{
	return core.dir;
}

void pbx__core_set_dir(struct pbx_dir *d)
{
	core.dir = d;
	pbx__msg_store_forget(); /* its cache of who has messages was the old directory's */
}

time_t pbx_start_time(void)
{
	return core.started;
}

bool pbx_stopping(void)
{
	return core.stopping;
}

void pbx_core_set_busy_probe(pbx_busy_probe_h *probe)
{
	core.busy = probe;
}

static void stop_tick(uv_timer_t *t)
{
	unsigned busy = core.graceful && core.busy ? core.busy() : 0;
	if (busy && core.stop_deadline && uv_now(&core.loop) >= core.stop_deadline) {
		/* The exit path hangs them up with a BYE, as a stop now does. */
		pbx_notice("graceful stop: %u channel(s) still up after %u s: ending them", busy,
			   core.stop_timeout);
		busy = 0;
	}
	if (busy) {
		pbx_debug("graceful stop: %u channel(s) still up", busy);
		return; /* the repeating timer asks again */
	}
	uv_timer_stop(t);
	uv_stop(&core.loop);
}

void pbx_stop(bool graceful)
{
	if (graceful) {
		pbx_stop_within(core.cfg ? (unsigned)pbx_config_core(core.cfg)->stop_timeout : 0);
		return;
	}
	if (core.stopping && !core.graceful)
		return;
	core.stopping = true;
	core.graceful = false;
	pbx_notice("stopping now");
	/* Not uv_stop() here: the console command that asked must see its reply. */
	uv_timer_start(&core.stop_timer, stop_tick, 0, 1000);
}

int pbx_stop_within(unsigned timeout_s)
{
	if (core.stopping && !core.graceful)
		return -1;
	core.stopping = true;
	core.graceful = true;
	core.stop_timeout = timeout_s;
	/* One check a second: a deadline is met within a second, which is
	 * all an operator's "in N seconds" asks for. */
	core.stop_deadline = timeout_s ? uv_now(&core.loop) + (uint64_t)timeout_s * 1000 : 0;
	if (timeout_s)
		pbx_notice("stopping gracefully: new calls refused; calls still up in %u s are "
			   "ended",
			   timeout_s);
	else
		pbx_notice("stopping gracefully: new calls refused; stopping when no calls are up");
	uv_timer_start(&core.stop_timer, stop_tick, 0, 1000);
	return (int)timeout_s;
}

/*
 * After a burst (a registration storm, a flood) the allocator keeps the
 * freed memory for reuse; hand what is free at the top of the heap and in
 * whole free pages back to the system now and then, so that RSS returns
 * to its idle size. A walk over the free lists: a fraction of a
 * millisecond every TRIM_MS.
 */
#define TRIM_MS 10000

static void trim_tick(uv_timer_t *t)
{
	malloc_trim(0);
}

static void on_signal(uv_signal_t *s, int signum)
{
	if (++core.signals > 1) {
		/* A second signal means the operator is out of patience. */
		static const char msg[] = "second signal: exiting at once\n";
		if (write(STDERR_FILENO, msg, sizeof msg - 1) < 0) {
		}
		_exit(1);
	}
	pbx_notice("%s received", strsignal(signum));
	pbx_stop(false);
}

int pbx__mkdir_p(const char *dir)
{
	char path[PATH_MAX];
	if (snprintf(path, sizeof path, "%s", dir) >= (int)sizeof path)
		return ENAMETOOLONG;
	for (char *p = path + 1;; p++) {
		if (*p == '/' || !*p) {
			char c = *p;
			*p = '\0';
			if (mkdir(path, 0750) && errno != EEXIST)
				return errno;
			*p = c;
			if (!c)
				return 0;
		}
	}
}

int pbx__fsync_dir_of(const char *path)
{
	char dir[PATH_MAX];
	snprintf(dir, sizeof dir, "%s", path);
	char *slash = strrchr(dir, '/');
	if (slash)
		*slash = '\0';
	int fd = open(slash ? (slash == dir ? "/" : dir) : ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return errno;
	int err = fsync(fd) ? errno : 0;
	close(fd);
	return err;
}

int pbx__mkdir_writable(const char *dir, const char **what)
{
	char path[PATH_MAX];
	struct stat st;
	if (snprintf(path, sizeof path, "%s", dir) >= (int)sizeof path) {
		*what = "path too long";
		return ENAMETOOLONG;
	}
	int err = pbx__mkdir_p(path);
	if (err) {
		*what = err == ENAMETOOLONG ? "path too long" : "cannot create";
		return err;
	}
	if (stat(path, &st) || !S_ISDIR(st.st_mode)) {
		*what = "not a directory";
		return ENOTDIR;
	}
	/* access() trusts root; a real file creation tells the truth. */
	char probe[PATH_MAX + 32];
	snprintf(probe, sizeof probe, "%s/.write-test-%d", path, (int)getpid());
	int fd = open(probe, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0) {
		*what = "not writable";
		return errno;
	}
	close(fd);
	unlink(probe);
	return 0;
}

int pbx__hook_add(pbx__hook_fn *slots, size_t n, pbx__hook_fn fn)
{
	for (size_t i = 0; i < n; i++)
		if (!slots[i]) {
			slots[i] = fn;
			return 0;
		}
	return ENOSPC;
}

void pbx__hook_del(pbx__hook_fn *slots, size_t n, pbx__hook_fn fn)
{
	for (size_t i = 0; i < n; i++)
		if (slots[i] == fn)
			slots[i] = NULL;
}

static void on_console_done(uv_async_t *a)
{
	pbx_stop(false);
}

static void *console_thread(void *arg)
{
	pbx__console_client(core.sock, NULL, false);
	uv_async_send(&core.console_done);
	return NULL;
}

/* Fork into the background; the parent exits once the child is serving. */
static int daemonize(int *ready_fd)
{
	int pfd[2];
	if (pipe(pfd))
		return errno;
	pid_t pid = fork();
	if (pid < 0)
		return errno;
	if (pid > 0) {
		char c;
		close(pfd[1]);
		ssize_t n = read(pfd[0], &c, 1);
		_exit(n == 1 ? 0 : 1);
	}
	close(pfd[0]);
	setsid();
	*ready_fd = pfd[1];
	return 0;
}

static void daemon_ready(int fd)
{
	int null = open("/dev/null", O_RDWR);
	if (write(fd, "1", 1) < 0) {
	}
	close(fd);
	if (null >= 0) {
		dup2(null, STDIN_FILENO);
		dup2(null, STDOUT_FILENO);
		dup2(null, STDERR_FILENO);
		close(null);
	}
	pbx_log_set_stderr(0);
}

static void close_leftover(uv_handle_t *h, void *arg)
{
	if (!uv_is_closing(h)) {
		(*(int *)arg)++;
		uv_close(h, NULL);
	}
}

int pbx__core_run(struct pbx_config *cfg, bool foreground)
{
	const char *what = NULL;
	char path[PATH_MAX];
	int err, status = 1, ready_fd = -1;
	bool modules = false, console = false, media = false;
	pthread_t console_tid;
	bool console_thread_up = false;

	const struct pbx_core_cfg *cc = pbx_config_core(cfg);
	const char *file = pbx_config_file(cfg);
	core.cfg = cfg;
	pbx_log_set_level(cc->log_level);
	/* Each call holds four sockets (two RTP/RTCP pairs): take what the system allows. */
	struct rlimit nofile;
	if (!getrlimit(RLIMIT_NOFILE, &nofile) && nofile.rlim_cur < nofile.rlim_max) {
		nofile.rlim_cur = nofile.rlim_max;
		setrlimit(RLIMIT_NOFILE, &nofile);
	}
	umask(027); /* pbx.db holds password hashes: not for other users */
	err = pbx__mkdir_writable(cc->state_dir, &what);
	if (err) {
		fprintf(stderr, "%s: pbx.state_dir: '%s': %s (%s)\n", file, cc->state_dir, what,
			strerror(err));
		goto out_cfg;
	}
	snprintf(path, sizeof path, "%s/run", cc->state_dir);
	if ((err = pbx__mkdir_writable(path, &what)) || chmod(path, 0700)) {
		fprintf(stderr, "%s: pbx.state_dir: '%s': %s (%s)\n", file, path,
			what ? what : "cannot chmod", strerror(err ? err : errno));
		goto out_cfg;
	}
	pbx__console_path(cfg, core.sock, sizeof core.sock);
	const char *log_file = cc->log_file;
	char default_log[PATH_MAX];
	if (!log_file && !foreground) {
		snprintf(default_log, sizeof default_log, "%s/pbx.log", cc->state_dir);
		log_file = default_log;
	}
	if (log_file && (err = pbx_log_set_file(log_file))) {
		fprintf(stderr, "%s: pbx.log_file: '%s': cannot open (%s)\n", file, log_file,
			strerror(err));
		goto out_cfg;
	}
	if (!foreground && (err = daemonize(&ready_fd))) {
		fprintf(stderr, "cannot fork into the background: %s\n", strerror(err));
		goto out_cfg;
	}

	uv_loop_init(&core.loop);
	core.started = time(NULL);
	uv_timer_init(&core.loop, &core.stop_timer);
	uv_timer_init(&core.loop, &core.trim_timer);
	uv_timer_start(&core.trim_timer, trim_tick, TRIM_MS, TRIM_MS);
	uv_unref((uv_handle_t *)&core.trim_timer);
	uv_signal_init(&core.loop, &core.sigint);
	uv_signal_init(&core.loop, &core.sigterm);
	uv_async_init(&core.loop, &core.console_done, on_console_done);
	signal(SIGPIPE, SIG_IGN);

	snprintf(path, sizeof path, "%s/pbx.db", cc->state_dir);
	if ((err = pbx_dir_open(&core.dir, path)))
		goto out;
	if ((err = pbx_media_start()))
		goto out;
	media = true;
	if ((err = pbx__console_start(core.sock)))
		goto out;
	console = true;
	if ((err = pbx_modules_load()))
		goto out;
	modules = true;
	uv_signal_start(&core.sigint, on_signal, SIGINT);
	uv_signal_start(&core.sigterm, on_signal, SIGTERM);

	pbx_notice("pbx %s started; console at %s", PBX_VERSION, core.sock);
	if (ready_fd >= 0)
		daemon_ready(ready_fd);
	if (foreground && isatty(STDIN_FILENO) &&
	    !pthread_create(&console_tid, NULL, console_thread, NULL)) {
		console_thread_up = true;
		pthread_detach(console_tid);
	}
	uv_run(&core.loop, UV_RUN_DEFAULT);
	status = 0;
	pbx_notice("pbx stopped");
out:
	if (err)
		pbx_error("start-up failed: %s", strerror(err));
	if (modules) {
		/* Calls end with a BYE on the wire before the drivers go away. */
		pbx__chan_hangup_all(PBX_CAUSE_NORMAL);
		uv_run(&core.loop, UV_RUN_NOWAIT);
		pbx_modules_unload();
	}
	if (media)
		pbx_media_stop(); /* after the drivers: they free their sessions first */
	if (console)
		pbx__console_stop();
	uv_close((uv_handle_t *)&core.stop_timer, NULL);
	uv_close((uv_handle_t *)&core.trim_timer, NULL);
	uv_close((uv_handle_t *)&core.sigint, NULL);
	uv_close((uv_handle_t *)&core.sigterm, NULL);
	uv_close((uv_handle_t *)&core.console_done, NULL);
	uv_run(&core.loop, UV_RUN_DEFAULT); /* let close callbacks and flushes run */
	int leftover = 0;
	uv_walk(&core.loop, close_leftover, &leftover);
	if (leftover) {
		pbx_warning("%d handle(s) still open at stop (a module did not close them)",
			    leftover);
		uv_run(&core.loop, UV_RUN_DEFAULT);
	}
	uv_loop_close(&core.loop);
	pbx_dir_close(core.dir);
	core.dir = NULL;
	(void)console_thread_up;
out_cfg:
	pbx_log_set_file(NULL);
	pbx_config_free(cfg);
	core.cfg = NULL;
	return status;
}
