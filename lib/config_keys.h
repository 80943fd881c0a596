/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/*
 * config_keys: what each key of the INI contract (SPEC.md) means: the key
 * table of every section with its type and range, and the parsing of each
 * value into struct config. Called by config_load.c for every key line.
 * Threads: the thread running the load (config_parse.h).
 */
#ifndef AP_CONFIG_KEYS_H
#define AP_CONFIG_KEYS_H

#include "config_parse.h"

/*
 * inih's handler (user is the struct config_parse): stores one key of the
 * current section, or one continuation line of the key before it, and
 * reports unknown, duplicate, empty and malformed keys at p->lineno.
 * Always returns 1: errors are counted in p->errors, not returned to inih.
 */
int config_keys_handler(void *user, const char *section, const char *name,
			const char *value);

#endif
