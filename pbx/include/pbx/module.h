/**
 * @file module.h  Module registry: drivers and applications register here
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * A module declares itself with PBX_MODULE(); the descriptor lands in a
 * linker section the core walks at start, so the core never names a module.
 */
#ifndef PBX_MODULE_H
#define PBX_MODULE_H

struct pbx_module {
	const char *name;
	int order;            /* lower loads first, unloads last */
	int (*load)(void);    /* 0 or errno; a failing module stops start-up */
	void (*unload)(void); /* close handles, free everything; may be NULL */
};

#define PBX_MODULE(var)                                                                           \
	static const struct pbx_module var;                                                       \
	__attribute__((used,                                                                      \
		       section("pbx_modules"))) static const struct pbx_module *const var##_ptr = \
		&var;                                                                             \
	static const struct pbx_module var

/** Load every linked module in order; on failure unload those loaded. */
int pbx_modules_load(void);
void pbx_modules_unload(void);

#endif
