/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/*
 * config_check: the checks that need the whole file, run once after the
 * last line (config_load.c calls it).
 * Threads: the thread running the load (config_parse.h).
 */
#ifndef AP_CONFIG_CHECK_H
#define AP_CONFIG_CHECK_H

#include "config_parse.h"

/*
 * Required keys, rules across keys and sections, the defaults that depend
 * on other keys (workers, acme_directory, each site's upstream_url), and
 * with p->check_files the files named by the config. Moves the [tls]
 * cert_path/key_path pair into p->cfg->certs[0]. Problems go through
 * config_parse_diag(); out-of-memory sets p->oom.
 */
void config_check(struct config_parse *p);

#endif
