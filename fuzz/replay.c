/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/*
 * replay: runs a libFuzzer target over seed corpora without libFuzzer, so
 * `make check` exercises every fuzz target under the sanitizers. Arguments
 * are directories (or files); with none, FUZZ_CORPUS_DIR is used. Exits 0
 * after every input ran; a crash or sanitizer report fails the test. Shared
 * by all fuzz targets: it knows nothing about any one of them.
 */
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define REPLAY_MAX_INPUT (16 * 1024 * 1024)

static int run_file(const char *path)
{
	FILE *f;
	uint8_t *buf = NULL;
	long len;
	int rc = -1;

	f = fopen(path, "rb");
	if (f == NULL) {
		fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
		return -1;
	}
	if (fseek(f, 0, SEEK_END) != 0 || (len = ftell(f)) < 0 ||
	    len > REPLAY_MAX_INPUT || fseek(f, 0, SEEK_SET) != 0) {
		fprintf(stderr, "replay: %s: cannot size or too large\n", path);
		goto out;
	}
	/* One spare byte so a zero-length input still has a valid pointer. */
	buf = malloc((size_t)len + 1);
	if (buf == NULL) {
		fprintf(stderr, "replay: %s: out of memory\n", path);
		goto out;
	}
	if (fread(buf, 1, (size_t)len, f) != (size_t)len) {
		fprintf(stderr, "replay: %s: short read\n", path);
		goto out;
	}
	LLVMFuzzerTestOneInput(buf, (size_t)len);
	rc = 0;
out:
	free(buf);
	fclose(f);
	return rc;
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Runs every regular file of dir, in name order for reproducible logs. */
static int run_dir(const char *dir, unsigned *count)
{
	DIR *d;
	struct dirent *de;
	char **names = NULL, **nn;
	size_t n = 0, i;
	int rc = -1;

	d = opendir(dir);
	if (d == NULL) {
		fprintf(stderr, "replay: %s: %s\n", dir, strerror(errno));
		return -1;
	}
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		nn = reallocarray(names, n + 1, sizeof(*names));
		if (nn == NULL)
			goto out;
		names = nn;
		names[n] = strdup(de->d_name);
		if (names[n] == NULL)
			goto out;
		n++;
	}
	if (n > 0)
		qsort(names, n, sizeof(*names), cmp_names);
	rc = 0;
	for (i = 0; i < n; i++) {
		char *path;
		struct stat st;

		if (asprintf(&path, "%s/%s", dir, names[i]) < 0) {
			rc = -1;
			break;
		}
		if (stat(path, &st) == 0 && S_ISREG(st.st_mode)) {
			if (run_file(path) < 0)
				rc = -1;
			else
				(*count)++;
		}
		free(path);
	}
out:
	for (i = 0; i < n; i++)
		free(names[i]);
	free(names);
	closedir(d);
	return rc;
}

int main(int argc, char **argv)
{
	unsigned count = 0;
	int i, rc = 0;
	struct stat st;
	const char *const *args = (const char *const *)argv + 1;
	int nargs = argc - 1;
#ifdef FUZZ_CORPUS_DIR
	static const char *const def[] = { FUZZ_CORPUS_DIR };

	if (nargs < 1) {
		args = def;
		nargs = 1;
	}
#endif
	if (nargs < 1) {
		fprintf(stderr, "usage: %s CORPUS_DIR_OR_FILE...\n", argv[0]);
		return 2;
	}
	for (i = 0; i < nargs; i++) {
		if (stat(args[i], &st) == 0 && S_ISREG(st.st_mode)) {
			if (run_file(args[i]) < 0)
				rc = 1;
			else
				count++;
		} else if (run_dir(args[i], &count) < 0) {
			rc = 1;
		}
	}
	fprintf(stderr, "replay: %u inputs\n", count);
	return rc;
}
