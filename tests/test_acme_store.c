/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/*
 * Unit tests for acme_store.c: atomic writes with mode 0600 and no
 * leftover temp files, account and certificate round trips, and recovery
 * from corrupt, partial, wrongly typed and foreign files (logged, moved
 * aside, treated as absent — never a crash).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "acme_store.h"
#include "log.h"
#include "unit.h"

static char dir[256];
static int error_lines;

static void sink(void *ud, enum log_level level, const char *event,
		 const char *line, size_t len)
{
	(void)ud;
	(void)line;
	(void)len;
	if (level == LOG_LEVEL_ERROR && strcmp(event, "ACME_STORE_ERROR") == 0)
		error_lines++;
}

static void put(const char *name, const char *text)
{
	char p[512];
	FILE *f;

	snprintf(p, sizeof(p), "%s/%s", dir, name);
	f = fopen(p, "w");
	if (f != NULL) {
		fputs(text, f);
		fclose(f);
	}
}

static int exists(const char *name)
{
	char p[512];

	snprintf(p, sizeof(p), "%s/%s", dir, name);
	return access(p, F_OK) == 0;
}

static unsigned mode_of(const char *name)
{
	char p[512];
	struct stat st;

	snprintf(p, sizeof(p), "%s/%s", dir, name);
	return stat(p, &st) == 0 ? (unsigned)(st.st_mode & 07777) : 0;
}

static int count_entries(void)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int n = 0;

	while (d != NULL && (de = readdir(d)) != NULL)
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			n++;
	if (d != NULL)
		closedir(d);
	return n;
}

static void test_atomic(void)
{
	char p[512], buf[64];
	FILE *f;
	size_t n;

	umask(022); /* a loose umask must not widen the file */
	CHECK(acme_store_write_atomic(dir, "x.json", "first", 5) == 0);
	CHECK(acme_store_write_atomic(dir, "x.json", "second", 6) == 0);
	CHECK(mode_of("x.json") == 0600);
	snprintf(p, sizeof(p), "%s/x.json", dir);
	f = fopen(p, "r");
	n = f ? fread(buf, 1, sizeof(buf) - 1, f) : 0;
	buf[n] = '\0';
	if (f)
		fclose(f);
	CHECK_STR(buf, "second");
	CHECK(count_entries() == 1); /* no temp file left behind */
	/* a directory that does not exist: fails, creates nothing */
	CHECK(acme_store_write_atomic("/nonexistent-dir-xyz", "a", "b", 1) < 0);
	unlink(p);
}

static void test_account(void)
{
	struct acme_account a = {0}, b;
	char key[] = "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE "
		     "KEY-----\n";

	a.directory = strdup("https://ca.test/dir");
	a.key_pem = strdup(key);
	a.key_len = strlen(key);
	CHECK(acme_store_load_account(dir, "https://ca.test/dir", &b) == 0);
	CHECK(acme_store_save_account(dir, &a) == 0);
	CHECK(mode_of("account.json") == 0600);
	CHECK(acme_store_load_account(dir, "https://ca.test/dir", &b) == 1);
	CHECK_STR(b.key_pem, key);
	CHECK(b.url == NULL);
	acme_account_clear(&b);
	a.url = strdup("https://ca.test/acct/7");
	CHECK(acme_store_save_account(dir, &a) == 0);
	CHECK(acme_store_load_account(dir, "https://ca.test/dir", &b) == 1);
	CHECK_STR(b.url, "https://ca.test/acct/7");
	CHECK(b.key_len == strlen(key));
	acme_account_clear(&b);
	/* another CA's account is not used */
	CHECK(acme_store_load_account(dir, "https://other.test/dir", &b) == 0);
	CHECK(b.key_pem == NULL && b.url == NULL);
	acme_account_clear(&a);
	acme_account_clear(NULL);
}

static void test_corrupt(void)
{
	static const char *const bad[] = {
		"",
		"{\"version\":1,\"directory\":\"https://ca.test/dir\",\"ke",
		"[1,2,3]",
		"{\"version\":2,\"directory\":\"https://ca.test/"
		"dir\",\"key\":\"k\"}",
		"{\"version\":1,\"directory\":7,\"key\":\"k\"}",
		"{\"version\":1,\"directory\":\"https://ca.test/dir\"}",
		"{\"version\":1,\"directory\":\"https://ca.test/"
		"dir\",\"key\":\"\"}",
		"{\"version\":1,\"version\":1}",
		"\xff\xfe garbage",
	};
	struct acme_account b;
	struct acme_cert_cache c;
	size_t i;
	int before;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		before = error_lines;
		put("account.json", bad[i]);
		CHECK(acme_store_load_account(dir, "https://ca.test/dir", &b) ==
		      0);
		CHECK(b.key_pem == NULL);
		CHECK(error_lines == before + 1);
		CHECK(!exists("account.json"));
		CHECK(exists("account.json.corrupt"));
		acme_account_clear(&b);
	}
	put("certificate.json",
	    "{\"version\":1,\"names\":[\"a.test\"],\"chain\":\"x\"");
	CHECK(acme_store_load_cert(dir, &c) == 0);
	CHECK(c.chain == NULL && c.names == NULL);
	CHECK(exists("certificate.json.corrupt"));
	put("certificate.json",
	    "{\"version\":1,\"names\":[3],\"chain\":\"x\",\"key\":\"k\"}");
	CHECK(acme_store_load_cert(dir, &c) == 0);
	CHECK(c.chain == NULL && c.names == NULL && c.n_names == 0);
	put("certificate.json",
	    "{\"version\":1,\"names\":[],\"chain\":\"x\",\"key\":\"k\"}");
	CHECK(acme_store_load_cert(dir, &c) == 0);
	/* a directory where the file should be */
	{
		char p[512];

		snprintf(p, sizeof(p), "%s/certificate.json", dir);
		mkdir(p, 0700);
		CHECK(acme_store_load_cert(dir, &c) == -1);
		rmdir(p);
	}
}

static void test_cert(void)
{
	struct acme_cert_cache c = {0}, d;
	static char n1[] = "b.test", n2[] = "a.test", chain[] = "CHAIN",
		    key[] = "KEY", dirurl[] = "https://ca.test/dir";
	char *names[] = {n1, n2};

	c.names = names;
	c.n_names = 2;
	c.chain = chain;
	c.chain_len = 5;
	c.key = key;
	c.key_len = 3;
	CHECK(acme_store_save_cert(dir, &c) == 0);
	CHECK(mode_of("certificate.json") == 0600);
	CHECK(acme_store_load_cert(dir, &d) == 1);
	CHECK(d.directory == NULL); /* not recorded: unknown */
	CHECK(d.n_names == 2);
	CHECK(d.n_names == 2 && strcmp(d.names[0], "b.test") == 0 &&
	      strcmp(d.names[1], "a.test") == 0);
	CHECK_STR(d.chain, "CHAIN");
	CHECK_STR(d.key, "KEY");
	acme_cert_cache_clear(&d);

	/* the directory that issued it round-trips */
	c.directory = dirurl;
	CHECK(acme_store_save_cert(dir, &c) == 0);
	CHECK(acme_store_load_cert(dir, &d) == 1);
	CHECK_STR(d.directory, "https://ca.test/dir");
	acme_cert_cache_clear(&d);
}

/* The issuance lock (issue 20): one holder at a time, the others told who
 * holds it; released by unlock, and by the holder's death (no stale lock);
 * the certificate stamp changes with every save. */
static void test_lock(void)
{
	char holder[200], want[64];
	struct acme_stamp s1, s2;
	struct acme_cert_cache c = {0};
	static char chain[] = "CHAIN", key[] = "KEY";
	int fd, fd2, pfd[2];
	pid_t pid;

	fd = acme_store_lock(dir, holder, sizeof(holder));
	CHECK(fd >= 0);
	CHECK(mode_of("issue.lock") == 0600);
	/* another open of the file (another instance) finds it busy */
	fd2 = acme_store_lock(dir, holder, sizeof(holder));
	CHECK(fd2 == -1);
	snprintf(want, sizeof(want), "pid %ld on ", (long)getpid());
	CHECK(strncmp(holder, want, strlen(want)) == 0);
	CHECK(strstr(holder, " since ") != NULL && strchr(holder, '\n') == NULL);
	acme_store_unlock(fd);
	fd2 = acme_store_lock(dir, holder, sizeof(holder));
	CHECK(fd2 >= 0);
	acme_store_unlock(fd2);

	/* a holder killed with the lock held leaves none behind */
	CHECK(pipe(pfd) == 0);
	pid = fork();
	if (pid == 0) {
		char ok = acme_store_lock(dir, NULL, 0) >= 0 ? 'y' : 'n';

		if (write(pfd[1], &ok, 1) != 1)
			_exit(1);
		pause();
		_exit(0);
	}
	if (pid > 0) {
		char got = 0;

		CHECK(read(pfd[0], &got, 1) == 1 && got == 'y');
		CHECK(acme_store_lock(dir, holder, sizeof(holder)) == -1);
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		fd = acme_store_lock(dir, holder, sizeof(holder));
		CHECK(fd >= 0);
		acme_store_unlock(fd);
	}
	close(pfd[0]);
	close(pfd[1]);

	/* stamps */
	c.chain = chain;
	c.chain_len = 5;
	c.key = key;
	c.key_len = 3;
	CHECK(acme_store_save_cert(dir, &c) == 0);
	CHECK(acme_store_cert_stamp(dir, &s1) == 0);
	CHECK(acme_store_save_cert(dir, &c) == 0);
	CHECK(acme_store_cert_stamp(dir, &s2) == 0);
	CHECK(memcmp(&s1, &s2, sizeof(s1)) != 0);
	CHECK(acme_store_cert_stamp("/nonexistent-dir", &s1) == -1);
}

/* state.json: the schedule round-trips; a damaged one is set aside. */
static void test_state(void)
{
	struct acme_state st = {0}, got;
	static char key[] = "https://ca.test/dir a.test,b.test";
	static const char *const bad[] = {
		"{\"version\":1,\"key\":\"k\",\"failures\":-1,"
		"\"next_attempt_ms\":0,\"last_issued_ms\":0}",
		"{\"version\":1,\"key\":\"k\",\"failures\":1}",
		"{\"version\":1,\"key\":\"\",\"failures\":1,"
		"\"next_attempt_ms\":0,\"last_issued_ms\":0}",
		"{\"version\":1,\"key\":\"k\",\"failures\":\"1\","
		"\"next_attempt_ms\":0,\"last_issued_ms\":0}",
		"{\"version\":1,\"key\":\"k\",\"failures\":99999999,"
		"\"next_attempt_ms\":0,\"last_issued_ms\":0}",
		"null",
	};
	size_t i;

	CHECK(acme_store_load_state(dir, &got) == 0); /* absent */
	CHECK(got.key == NULL && got.failures == 0);
	st.key = key;
	st.failures = 3;
	st.next_attempt_ms = 1800000000123LL;
	st.last_issued_ms = 1700000000456LL;
	CHECK(acme_store_save_state(dir, &st) == 0);
	CHECK(mode_of("state.json") == 0600);
	CHECK(acme_store_load_state(dir, &got) == 1);
	CHECK_STR(got.key, key);
	CHECK(got.failures == 3);
	CHECK(got.next_attempt_ms == 1800000000123LL);
	CHECK(got.last_issued_ms == 1700000000456LL);
	acme_state_clear(&got);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		put("state.json", bad[i]);
		CHECK(acme_store_load_state(dir, &got) == 0);
		CHECK(got.key == NULL);
		CHECK(exists("state.json.corrupt"));
	}
}

/* Create an empty file in/name; 0 or -1. */
static int touch(const char *in, const char *name)
{
	char f[600];
	int fd;

	snprintf(f, sizeof(f), "%s/%s", in, name);
	fd = open(f, O_CREAT | O_WRONLY, 0600);
	if (fd < 0)
		return -1;
	close(fd);
	return 0;
}

static void test_ensure_dir(void)
{
	char p[512], f[600];
	struct stat st;
	const char *why = NULL;

	snprintf(p, sizeof(p), "%s/deep/er", dir);
	CHECK(acme_store_ensure_dir(p, &why) == 0);
	CHECK(stat(p, &st) == 0 && S_ISDIR(st.st_mode) &&
	      (st.st_mode & 0777) == 0700);
	/* readable by others: fine; writable by group or others: refused,
	 * and left as it is */
	CHECK(chmod(p, 0755) == 0);
	CHECK(acme_store_ensure_dir(p, &why) == 0);
	CHECK(chmod(p, 0770) == 0);
	why = NULL;
	CHECK(acme_store_ensure_dir(p, &why) == -1 && errno == EPERM &&
	      why != NULL && strstr(why, "group or others") != NULL);
	CHECK(stat(p, &st) == 0 && (st.st_mode & 0777) == 0770);
	CHECK(chmod(p, 0700) == 0);
	/* temporaries of an interrupted write are removed, nothing else;
	 * not one written in the last minutes, which may be another
	 * instance's write in progress (a shared directory, issue 20) */
	CHECK(touch(p, ".certificate.json.Ab12Cd") == 0);
	snprintf(f, sizeof(f), "%s/.certificate.json.Ab12Cd", p);
	{
		struct timespec old[2] = {{time(NULL) - 600, 0},
					  {time(NULL) - 600, 0}};

		CHECK(utimensat(AT_FDCWD, f, old, 0) == 0);
	}
	CHECK(touch(p, ".state.json.Zz99Yy") == 0);
	CHECK(touch(p, ".other.Ab12Cd") == 0);
	CHECK(acme_store_ensure_dir(p, &why) == 0);
	CHECK(access(f, F_OK) != 0);
	snprintf(f, sizeof(f), "%s/.state.json.Zz99Yy", p);
	CHECK(access(f, F_OK) == 0);
	unlink(f);
	snprintf(f, sizeof(f), "%s/.other.Ab12Cd", p);
	CHECK(access(f, F_OK) == 0);
	unlink(f);
	/* a symbolic link to it is followed; a file is refused */
	snprintf(f, sizeof(f), "%s/link", dir);
	CHECK(symlink(p, f) == 0);
	CHECK(acme_store_ensure_dir(f, &why) == 0);
	unlink(f);
	CHECK(touch(dir, "file") == 0);
	snprintf(f, sizeof(f), "%s/file", dir);
	why = NULL;
	CHECK(acme_store_ensure_dir(f, &why) == -1 && errno == ENOTDIR &&
	      why != NULL);
	unlink(f);
	/* another user's directory is refused: as root one chown'ed to
	 * nobody, otherwise "/" (root's) */
	if (geteuid() == 0)
		CHECK(chown(p, 65534, 65534) == 0);
	why = NULL;
	CHECK(acme_store_ensure_dir(geteuid() == 0 ? p : "/", &why) == -1 &&
	      errno == EPERM && why != NULL &&
	      strstr(why, "another user") != NULL);
	if (geteuid() == 0)
		CHECK(chown(p, 0, 0) == 0);
	rmdir(p);
	snprintf(p, sizeof(p), "%s/deep", dir);
	rmdir(p);
}

int main(void)
{
	char cmd[600];

	snprintf(dir, sizeof(dir), "%s/acme-store-XXXXXX",
		 getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	if (mkdtemp(dir) == NULL)
		return 99;
	log_set_sink(sink, NULL);
	test_atomic();
	test_account();
	test_corrupt();
	test_cert();
	test_state();
	test_ensure_dir();
	test_lock();
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", dir);
	UNIT_DONE();
}
