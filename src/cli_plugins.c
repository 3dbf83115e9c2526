/*
 * cli_plugins.c: `jianmo plugins`, what the plugin directories hold: each
 * directory searched (and whether it exists), each plugin loaded (path,
 * name, version, its operators with their kind and arguments) and each one
 * refused, with the reason.  Loading is the registry's (plugin/plugin.h);
 * here refusals are listed rather than warned about.
 */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "plugin/plugin.h"
#include "util/err.h"
#include "util/json.h"

static const char *kind_word(int kind)
{
	return kind == JM_PLUGIN_OP_LAYER ? "layer" : "feature";
}

/* "beta=1 [0, 50]" for each argument, comma-separated. */
static void args_text(const jm_plugin_op *op, char *buf, size_t n)
{
	size_t o = 0;
	buf[0] = 0;
	for (int k = 0; k < op->n_args && o < n; k++) {
		const jm_plugin_arg *a = &op->args[k];
		o += (size_t)snprintf(buf + o, n - o, "%s%s=%g [%g, %g]%s", k ? ", " : "", a->name, a->def,
				      a->min, a->max, a->integer ? " integer" : "");
	}
}

static void print_text(void)
{
	char args[512];
	printf("directories searched:\n");
	for (int i = 0; i < jm_plugins_dir_count(); i++) {
		const jm_plugin_dir *d = jm_plugins_dir(i);
		printf("  %s  (%s%s)\n", d->path, d->origin, d->exists ? "" : ", absent");
	}
	int loaded = 0, refused = 0;
	for (int i = 0; i < jm_plugins_count(); i++)
		jm_plugins_get(i)->loaded ? loaded++ : refused++;
	printf("\nloaded: %d\n", loaded);
	for (int i = 0; i < jm_plugins_count(); i++) {
		const jm_plugin_rec *r = jm_plugins_get(i);
		if (!r->loaded)
			continue;
		printf("  %s %s  %s\n", r->name, r->version, r->path);
		if (r->description && *r->description)
			printf("    %s\n", r->description);
		for (int k = 0; k < r->n_ops; k++) {
			const jm_plugin_op *op = &r->ops[k];
			args_text(op, args, sizeof args);
			printf("    %-7s %s%s%s%s%s\n", kind_word(op->kind),
			       op->kind == JM_PLUGIN_OP_LAYER ? "plugin:" : "", op->name,
			       op->n_args ? "(" : "", args, op->n_args ? ")" : "");
			if (*op->help)
				printf("            %s\n", op->help);
		}
	}
	printf("\nrefused: %d\n", refused);
	for (int i = 0; i < jm_plugins_count(); i++) {
		const jm_plugin_rec *r = jm_plugins_get(i);
		if (!r->loaded)
			printf("  %s: %s\n", r->path, r->reason);
	}
}

static void print_json(void)
{
	printf("{\"directories\":[");
	for (int i = 0; i < jm_plugins_dir_count(); i++) {
		const jm_plugin_dir *d = jm_plugins_dir(i);
		printf("%s{\"path\":", i ? "," : "");
		jm_json_str(stdout, d->path);
		printf(",\"origin\":");
		jm_json_str(stdout, d->origin);
		printf(",\"exists\":%s}", d->exists ? "true" : "false");
	}
	printf("],\"plugins\":[");
	for (int i = 0; i < jm_plugins_count(); i++) {
		const jm_plugin_rec *r = jm_plugins_get(i);
		printf("%s{\"path\":", i ? "," : "");
		jm_json_str(stdout, r->path);
		printf(",\"loaded\":%s", r->loaded ? "true" : "false");
		if (!r->loaded) {
			printf(",\"reason\":");
			jm_json_str(stdout, r->reason);
			printf("}");
			continue;
		}
		printf(",\"name\":");
		jm_json_str(stdout, r->name);
		printf(",\"version\":");
		jm_json_str(stdout, r->version);
		printf(",\"description\":");
		jm_json_str(stdout, r->description);
		printf(",\"operators\":[");
		for (int k = 0; k < r->n_ops; k++) {
			const jm_plugin_op *op = &r->ops[k];
			printf("%s{\"name\":", k ? "," : "");
			jm_json_str(stdout, op->name);
			printf(",\"kind\":");
			jm_json_str(stdout, kind_word(op->kind));
			printf(",\"help\":");
			jm_json_str(stdout, op->help);
			printf(",\"args\":[");
			for (int a = 0; a < op->n_args; a++) {
				const jm_plugin_arg *g = &op->args[a];
				printf("%s{\"name\":", a ? "," : "");
				jm_json_str(stdout, g->name);
				printf(",\"default\":");
				jm_json_num(stdout, g->def);
				printf(",\"min\":");
				jm_json_num(stdout, g->min);
				printf(",\"max\":");
				jm_json_num(stdout, g->max);
				printf(",\"integer\":%s}", g->integer ? "true" : "false");
			}
			printf("]}");
		}
		printf("]}");
	}
	printf("]}\n");
}

int jm_cmd_plugins(int argc, char **argv, const jm_cli *cli)
{
	int json = cli->json;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--json"))
			json = 1;
		else
			return jm_cmd_usage("plugins");
	}
	jm_plugins_warn_to(NULL); /* listed below instead */
	jm_plugins_load();
	if (json)
		print_json();
	else
		print_text();
	return JM_EXIT_OK;
}
