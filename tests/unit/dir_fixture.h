/**
 * @file dir_fixture.h  A fresh directory database handed to the core, for store unit tests
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * The stores (conference rooms, messages) reach the database only through
 * pbx_dir(): each test gets a new file under /tmp, removed afterwards.
 */
#ifndef DIR_FIXTURE_H
#define DIR_FIXTURE_H

#include <stdio.h>
#include <unistd.h>

#include "../../pbx/core_priv.h"
#include "pbx/directory.h"

static char dbpath[64];

static inline void unit_dir_unlink(void)
{
	char p[80];
	unlink(dbpath);
	snprintf(p, sizeof p, "%s-wal", dbpath);
	unlink(p);
	snprintf(p, sizeof p, "%s-shm", dbpath);
	unlink(p);
}

/* A new database /tmp/pbx-unit-@p name-PID.db, the core's from now on; *state holds it. */
static inline int unit_dir_setup(void **state, const char *name)
{
	struct pbx_dir *d;
	snprintf(dbpath, sizeof dbpath, "/tmp/pbx-unit-%s-%d.db", name, (int)getpid());
	unit_dir_unlink();
	if (pbx_dir_open(&d, dbpath))
		return -1;
	pbx__core_set_dir(d);
	*state = d;
	return 0;
}

static inline int unit_dir_teardown(void **state)
{
	pbx__core_set_dir(NULL);
	pbx_dir_close(*state);
	unit_dir_unlink();
	return 0;
}

#endif
