/*
 * xlb fleet check SOURCE...: do the nodes of a fleet agree?  Each SOURCE is a
 * node's metrics (http://HOST:PORT[/metrics], or a file the daemon writes
 * with --metrics-file).  Nodes agree when their configurations have the same
 * fingerprint and every service's live table sends every flow to the same
 * backend address (xlb_table_info); the ones that differ from the most
 * common answer are named.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cmd.h"
#include "fleet.h"
#include "log.h"

#define FLEET_MAX_NODES		64

/* The most common value of what(node) among the readable nodes. */
static const char *majority(const struct xlb_fleet_node *nodes, int nr, const char *(*what)(
			    const struct xlb_fleet_node *, const char *), const char *arg)
{
	const char *best = "";
	int best_n = 0;

	for (int i = 0; i < nr; i++) {
		int c = 0;

		if (nodes[i].error[0])
			continue;
		for (int k = 0; k < nr; k++)
			c += !nodes[k].error[0] && !strcmp(what(&nodes[i], arg), what(&nodes[k], arg));
		if (c > best_n) {
			best_n = c;
			best = what(&nodes[i], arg);
		}
	}
	return best;
}

static const char *config_of(const struct xlb_fleet_node *n, const char *unused)
{
	(void)unused;
	return n->config;
}

static int do_fleet_check(int argc, char **argv)
{
	struct xlb_fleet_node *nodes;
	json_t *arr = json_array();
	int unreadable = 0, differ = 0;
	const char *want;

	if (argc < 2 || argc > FLEET_MAX_NODES)
		return usage_error("fleet check: takes 2 to %d SOURCEs (http://HOST:PORT or a "
				   "metrics file)", FLEET_MAX_NODES);
	nodes = calloc(argc, sizeof(*nodes));
	if (!nodes)
		return XLB_EXIT_SYSTEM;
	for (int i = 0; i < argc; i++) {
		nodes[i].source = argv[i];
		xlb_fleet_read(&nodes[i], XLB_FLEET_TIMEOUT_MS);
		unreadable += nodes[i].error[0] != '\0';
	}
	want = majority(nodes, argc, config_of, NULL);
	for (int i = 0; i < argc; i++) {
		struct xlb_fleet_node *n = &nodes[i];
		json_t *o = json_pack("{s:s}", "source", n->source), *bad = json_array();

		if (n->error[0]) {
			json_object_set_new(o, "error", json_string(n->error));
			if (!xlb_json)
				printf("%s: UNREADABLE: %s\n", n->source, n->error);
			json_array_append_new(arr, o);
			json_decref(bad);
			continue;
		}
		if (strcmp(n->config, want))
			json_array_append_new(bad, json_string("configuration"));
		for (unsigned int t = 0; t < n->nr_tables; t++) {
			const char *svc = n->tables[t].service;

			if (strcmp(n->tables[t].fp, majority(nodes, argc, xlb_fleet_table, svc)))
				json_array_append_new(bad, json_pack("s+", "table ", svc));
		}
		differ += json_array_size(bad) > 0;
		json_object_set_new(o, "config_fingerprint", json_string(n->config));
		json_object_set_new(o, "generation", json_integer(n->generation));
		json_object_set_new(o, "agrees", json_boolean(!json_array_size(bad)));
		json_object_set_new(o, "differs_in", bad);
		if (!xlb_json) {
			printf("%s: configuration %s (generation %llu), %u tables: %s", n->source,
			       n->config, n->generation, n->nr_tables,
			       json_array_size(bad) ? "DIFFERS in" : "agrees");
			for (size_t k = 0; k < json_array_size(bad); k++)
				printf("%s %s", k ? "," : "", json_string_value(json_array_get(bad, k)));
			printf("\n");
		}
		json_array_append_new(arr, o);
	}
	if (xlb_json)
		json_emit(json_pack("{s:b,s:o}", "agree", !differ && !unreadable, "nodes", arr));
	else
		json_decref(arr);
	if (!xlb_json)
		printf("%s\n", unreadable ? "some nodes could not be read" :
		       differ ? "the nodes DO NOT agree: a flow may reach another backend through "
				"the nodes named" : "the nodes agree: every flow reaches the same "
				"backend through any of them");
	free(nodes);
	return unreadable ? XLB_EXIT_SYSTEM : differ ? XLB_EXIT_REFUSED : 0;
}

int do_fleet(int argc, char **argv)
{
	static const struct cmd verbs[] = {
		{ "check", do_fleet_check },
		{ NULL, NULL },
	};

	return cmd_dispatch(verbs, argc, argv, "fleet verb");
}
