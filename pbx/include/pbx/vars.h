/**
 * @file vars.h  A list of named text variables (a channel's, a message run's)
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Names are case-sensitive, as Asterisk's channel variables. A handful per
 * owner, so a linked list in setting order is enough.
 */
#ifndef PBX_VARS_H
#define PBX_VARS_H

struct pbx_var {
	struct pbx_var *next;
	char *name, *value;
};

/** The value of @p name, or NULL when unset. */
const char *pbx_vars_get(const struct pbx_var *list, const char *name);
/** Set @p name to a copy of @p value; NULL unsets. 0 or ENOMEM (nothing changed). */
int pbx_vars_set(struct pbx_var **list, const char *name, const char *value);
/** Free every variable; *list is NULL after. */
void pbx_vars_clear(struct pbx_var **list);

#endif
