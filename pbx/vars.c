/**
 * @file vars.c  A list of named text variables
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "pbx/vars.h"

const char *pbx_vars_get(const struct pbx_var *list, const char *name)
{
	for (const struct pbx_var *v = list; v; v = v->next)
		if (!strcmp(v->name, name))
			return v->value;
	return NULL;
}

static void var_free(struct pbx_var *v)
{
	free(v->name);
	free(v->value);
	free(v);
}

int pbx_vars_set(struct pbx_var **list, const char *name, const char *value)
{
	struct pbx_var **pp;
	for (pp = list; *pp; pp = &(*pp)->next)
		if (!strcmp((*pp)->name, name))
			break;
	if (!value) {
		if (*pp) {
			struct pbx_var *v = *pp;
			*pp = v->next;
			var_free(v);
		}
		return 0;
	}
	char *copy = strdup(value);
	if (!copy)
		return ENOMEM;
	if (*pp) {
		free((*pp)->value);
		(*pp)->value = copy;
		return 0;
	}
	struct pbx_var *v = calloc(1, sizeof *v);
	if (!v || !(v->name = strdup(name))) {
		free(v);
		free(copy);
		return ENOMEM;
	}
	v->value = copy;
	*pp = v;
	return 0;
}

void pbx_vars_clear(struct pbx_var **list)
{
	while (*list) {
		struct pbx_var *v = *list;
		*list = v->next;
		var_free(v);
	}
}
