/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/* embed: run libalkproxy inside a program. Usage: embed CONFIG.ini
 * SIGHUP reloads CONFIG.ini; SIGTERM/SIGINT drain for 5 s and exit. */
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

int main(int argc, char **argv)
{
	alkproxy *p = NULL;
	sigset_t set;
	int sig = 0, rc;

	if (argc != 2)
		return 2;
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &set, NULL); /* before any thread starts */
	alkproxy_set_log_callback(on_log, NULL);
	if ((rc = alkproxy_create_file(&p, argv[1], NULL, NULL)) != 0 ||
	    (rc = alkproxy_start(p)) != 0) {
		fprintf(stderr, "embed: %s\n", alkproxy_strerror(rc));
		alkproxy_free(p);
		return 1;
	}
	printf("embed: serving on port %u\n", alkproxy_https_port(p));
	fflush(stdout);
	while (sigwait(&set, &sig) == 0 && sig == SIGHUP)
		alkproxy_reload_file(p, argv[1], NULL, NULL);
	alkproxy_shutdown(p, 5);
	alkproxy_free(p);
	return 0;
}
