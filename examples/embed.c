/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/* embed: a program that runs libalkproxy inside itself. Usage:
 * embed CONFIG.ini — serves until SIGTERM/SIGINT, then drains and exits. */
#include <alkproxy.h>
#include <signal.h>
#include <stdio.h>

static void on_log(void *ud, enum alkproxy_log_level level, const char *event,
		   const char *fields, const char *line)
{
	(void)ud; (void)line;
	printf("[embed] %d %s %s\n", (int)level, event, fields);
	fflush(stdout);
}

static void on_diag(void *ud, int is_error, const char *msg)
{
	(void)ud; (void)is_error;
	fprintf(stderr, "%s\n", msg);
}

int main(int argc, char **argv)
{
	alkproxy *p = NULL;
	sigset_t set;
	int sig, rc;

	if (argc != 2)
		return 2;
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	pthread_sigmask(SIG_BLOCK, &set, NULL); /* before any thread starts */
	alkproxy_set_log_callback(on_log, NULL);
	if ((rc = alkproxy_create_file(&p, argv[1], on_diag, NULL)) != 0 ||
	    (rc = alkproxy_start(p)) != 0) {
		fprintf(stderr, "embed: %s\n", alkproxy_strerror(rc));
		alkproxy_free(p);
		return 1;
	}
	printf("embed: serving on port %u\n", alkproxy_https_port(p));
	fflush(stdout);
	sigwait(&set, &sig);
	alkproxy_shutdown(p, 5);
	alkproxy_free(p);
	return 0;
}
