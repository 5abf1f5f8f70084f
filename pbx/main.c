/**
 * @file main.c  Command line: run the server, or attach a console to it
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <getopt.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core_priv.h"
#include "pbx/buf.h"
#include "pbx/config.h"

static void usage(FILE *f)
{
	fprintf(f, "Usage: pbx [-c FILE] [-f]          run the PBX (in the background unless -f)\n"
		   "       pbx [-c FILE] -r            attach a console to the running PBX\n"
		   "       pbx [-c FILE] -rx \"CMD\"     run one console command and exit\n"
		   "       pbx -V                      print the version\n"
		   "  -c FILE  configuration (default etc/pbx.lua)\n"
		   "  -f       stay in the foreground; console on stdin when it is a terminal\n");
}

int main(int argc, char **argv)
{
	const char *file = "etc/pbx.lua", *cmd = NULL;
	bool foreground = false, remote = false;
	int opt;

	while ((opt = getopt(argc, argv, "c:frx:Vh")) != -1) {
		switch (opt) {
		case 'c': file = optarg; break;
		case 'f': foreground = true; break;
		case 'r': remote = true; break;
		case 'x':
			remote = true;
			cmd = optarg;
			break;
		case 'V': printf("pbx %s\n", PBX_VERSION); return 0;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "pbx: unexpected argument '%s'\n", argv[optind]);
		usage(stderr);
		return 2;
	}

	struct pbx_config *cfg;
	struct pbx_buf err;
	pbx_buf_init(&err);
	if (pbx_config_load(&cfg, file, &err)) {
		fprintf(stderr, "%s\n", err.data ? err.data : file);
		pbx_buf_free(&err);
		return 1;
	}
	pbx_buf_free(&err);

	if (remote) {
		char path[PATH_MAX];
		pbx__console_path(cfg, path, sizeof path);
		pbx_config_free(cfg);
		return pbx__console_client(path, cmd, true);
	}
	return pbx__core_run(cfg, foreground);
}
