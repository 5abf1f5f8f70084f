/**
 * @file module.c  Load and unload the modules linked into the binary
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "pbx/log.h"
#include "pbx/module.h"

/* Bounds of the "pbx_modules" section; weak so a build without modules links. */
extern const struct pbx_module *const __start_pbx_modules[] __attribute__((weak));
extern const struct pbx_module *const __stop_pbx_modules[] __attribute__((weak));

static const struct pbx_module **loaded;
static size_t nloaded;

static int by_order(const void *a, const void *b)
{
	const struct pbx_module *ma = *(const struct pbx_module *const *)a;
	const struct pbx_module *mb = *(const struct pbx_module *const *)b;
	if (ma->order != mb->order)
		return ma->order < mb->order ? -1 : 1;
	return strcmp(ma->name, mb->name); /* stable across link orders */
}

int pbx_modules_load(void)
{
	/* The linker places both symbols around one section: one object. */
	// cppcheck-suppress comparePointers
	size_t n = (size_t)(__stop_pbx_modules - __start_pbx_modules);
	if (!n)
		return 0;
	const struct pbx_module **all = malloc(n * sizeof *all);
	if (!all)
		return ENOMEM;
	memcpy(all, __start_pbx_modules, n * sizeof *all);
	qsort(all, n, sizeof *all, by_order);
	loaded = all;
	nloaded = 0;
	for (size_t i = 0; i < n; i++) {
		int err = all[i]->load ? all[i]->load() : 0;
		if (err) {
			pbx_error("module %s failed to load: %s", all[i]->name, strerror(err));
			pbx_modules_unload();
			return err;
		}
		pbx_debug("module %s loaded", all[i]->name);
		nloaded++;
	}
	return 0;
}

void pbx_modules_unload(void)
{
	while (nloaded > 0) {
		const struct pbx_module *m = loaded[--nloaded];
		if (m->unload)
			m->unload();
	}
	free(loaded);
	loaded = NULL;
}
