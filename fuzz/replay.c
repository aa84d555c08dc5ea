/* SPDX-License-Identifier: MIT */
/*
 * Runs a fuzz harness over files, without libFuzzer: each argument is an
 * input file or a directory of them.  Built with every harness in the
 * normal build, so `make check` replays the committed seed corpora and
 * the inputs of past findings (fuzz/regressions/) with gcc and under
 * ASan, and the harness code itself is compiled with -Werror.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz.h"

static int run_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	if (!f) {
		fprintf(stderr, "replay: cannot open %s: %s\n", path,
			strerror(errno));
		return -1;
	}
	uint8_t *buf = NULL;
	size_t len = 0, cap = 0;
	for (;;) {
		if (len == cap) {
			cap = cap ? 2 * cap : 4096;
			uint8_t *n = realloc(buf, cap);
			if (!n)
				abort();
			buf = n;
		}
		size_t r = fread(buf + len, 1, cap - len, f);
		if (r == 0)
			break;
		len += r;
	}
	fclose(f);
	LLVMFuzzerTestOneInput(buf, len);
	free(buf);
	return 0;
}

static int cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int run_path(const char *path, unsigned *n)
{
	struct stat st;
	if (stat(path, &st)) {
		fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
		return -1;
	}
	if (!S_ISDIR(st.st_mode)) {
		(*n)++;
		return run_file(path);
	}
	DIR *d = opendir(path);
	if (!d)
		return -1;
	char **names = NULL;
	size_t cnt = 0;
	struct dirent *e;
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		names = realloc(names, (cnt + 1) * sizeof(*names));
		if (!names)
			abort();
		size_t l = strlen(path) + strlen(e->d_name) + 2;
		names[cnt] = malloc(l);
		if (!names[cnt])
			abort();
		snprintf(names[cnt++], l, "%s/%s", path, e->d_name);
	}
	closedir(d);
	if (cnt)
		qsort(names, cnt, sizeof(*names), cmp);
	int rc = 0;
	for (size_t i = 0; i < cnt; i++) {
		if (run_path(names[i], n))
			rc = -1;
		free(names[i]);
	}
	free(names);
	return rc;
}

int main(int argc, char **argv)
{
	unsigned n = 0;
	int rc = 0;
	if (argc < 2) {
		fprintf(stderr, "usage: %s FILE-OR-DIR...\n"
				"Run the harness once over each input file.\n",
			argv[0]);
		return 2;
	}
	for (int i = 1; i < argc; i++)
		if (run_path(argv[i], &n))
			rc = 1;
	printf("%s: %u inputs replayed\n", argv[0], n);
	return rc;
}
