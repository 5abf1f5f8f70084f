/**
 * @file unit_main.c  Runs every UNIT_GROUP linked into the binary
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * `build/asan/unit [GROUP...]` runs only the named groups.
 */
#include <stdio.h>
#include <string.h>

#include "pbx/log.h"
#include "unit.h"

extern const struct unit_group *const __start_unit_groups[];
extern const struct unit_group *const __stop_unit_groups[];

int main(int argc, char **argv)
{
	int failed = 0, groups = 0;
	pbx_log_set_level(PBX_LOG_ERROR);
	// cppcheck-suppress comparePointers ; both ends of one linker section
	for (const struct unit_group *const *g = __start_unit_groups; g < __stop_unit_groups; g++) {
		int wanted = argc < 2;
		for (int i = 1; i < argc; i++)
			wanted |= !strcmp(argv[i], (*g)->name);
		if (!wanted)
			continue;
		groups++;
		failed += _cmocka_run_group_tests((*g)->name, (*g)->tests, (*g)->count, (*g)->setup,
						  (*g)->teardown);
	}
	printf("unit: %d groups, %d failed tests\n", groups, failed);
	return failed ? 1 : 0;
}
