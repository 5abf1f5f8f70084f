/**
 * @file config_load.h  Loading a config text in unit tests, with stable error messages
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * The text is written to a temporary file and loaded as the PBX loads its
 * config; the file's random name in an error becomes "CFG", so tests
 * compare fixed text ("CFG: sip.domain: ...").
 */
#ifndef CONFIG_LOAD_H
#define CONFIG_LOAD_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pbx/buf.h"
#include "pbx/config.h"
#include "unit.h"

/* Load @p text as a config file; returns rc, @p errbuf gets the message. */
static inline int load_text(const char *text, struct pbx_config **cfgp, char *errbuf, size_t len)
{
	char path[] = "/tmp/pbx-unit-cfg-XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	struct pbx_buf err;
	pbx_buf_init(&err);
	int rc = pbx_config_load(cfgp, path, &err);
	const char *msg = err.data ? err.data : "";
	if (!strncmp(msg, path, strlen(path)))
		snprintf(errbuf, len, "CFG%s", msg + strlen(path));
	else
		snprintf(errbuf, len, "%s", msg);
	pbx_buf_free(&err);
	unlink(path);
	return rc;
}

/* @p text must fail to load with exactly @p want. */
static inline void expect_error(const char *text, const char *want)
{
	struct pbx_config *cfg = NULL;
	char err[512];
	assert_int_not_equal(load_text(text, &cfg, err, sizeof err), 0);
	assert_null(cfg);
	assert_string_equal(err, want);
}

#endif
