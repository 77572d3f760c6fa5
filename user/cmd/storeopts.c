/*
 * The fleet store's options of a command: --store URL[,URL...], --fleet NAME,
 * --store-file FILE, else the client file /etc/xlb/fleet.json when there is
 * one; and how a store's failure is said (naming its endpoints).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include "cmd.h"
#include "log.h"
#include "store.h"

int store_args_take(int *argc, char **argv, struct store_args *a)
{
	static const char *const names[] = { "--store", "--fleet", "--store-file" };
	const char **slots[] = { &a->urls, &a->fleet, &a->file };
	int out = 0;

	memset(a, 0, sizeof(*a));
	for (int i = 0; i < *argc; i++) {
		int k = 0;

		while (k < 3 && strcmp(argv[i], names[k]))
			k++;
		if (k == 3) {
			argv[out++] = argv[i];
			continue;
		}
		if (i + 1 >= *argc || !argv[i + 1][0])
			return usage_error("%s needs a value", names[k]);
		if (*slots[k])
			return usage_error("%s is given twice", names[k]);
		*slots[k] = argv[++i];
	}
	*argc = out;
	argv[out] = NULL;
	return 0;
}

/* The client file named, or the default one when present: 0 or -errno, said. */
static int load_client_file(const struct store_args *a, struct xlb_store_opts *o)
{
	const char *file = a->file;
	int err;

	if (!file && !a->urls && !access(XLB_STORE_FILE_DEFAULT, F_OK))
		file = XLB_STORE_FILE_DEFAULT;
	if (!file)
		return 0;
	err = xlb_store_opts_load_file(o, file);
	if (err)
		p_err("%s", xlb_errmsg());
	return err;
}

int store_args_open(const struct store_args *a, struct xlb_store_opts *o, struct xlb_store **s)
{
	int err;

	memset(o, 0, sizeof(*o));
	*s = NULL;
	xlb_err_clear();
	if ((err = load_client_file(a, o)))
		return XLB_EXIT_REFUSED;
	if (a->urls && (err = xlb_store_opts_parse_urls(o, a->urls))) {
		p_err("%s", xlb_errmsg());
		return XLB_EXIT_REFUSED;
	}
	if (a->fleet) {
		if (!xlb_store_name_ok(a->fleet) || strlen(a->fleet) >= sizeof(o->fleet)) {
			p_err("--fleet '%s': a fleet name is 1 to 63 of A-Z a-z 0-9 _ . - (not . "
			      "or ..)", a->fleet);
			return XLB_EXIT_REFUSED;
		}
		snprintf(o->fleet, sizeof(o->fleet), "%s", a->fleet);
	}
	if (!o->nr_endpoints || !o->fleet[0]) {
		p_err("no fleet store given: --store URL[,URL...] --fleet NAME, or --store-file "
		      "FILE (default %s, absent)", XLB_STORE_FILE_DEFAULT);
		return XLB_EXIT_REFUSED;
	}
	if ((err = xlb_store_opts_check(o))) {
		p_err("%s", xlb_errmsg());
		return XLB_EXIT_REFUSED;
	}
	if ((err = xlb_store_open(s, o))) {
		p_err("%s", xlb_errmsg());
		return XLB_EXIT_SYSTEM;
	}
	return 0;
}

const char *store_endpoints(const struct xlb_store_opts *o, char *buf, size_t len)
{
	size_t n = 0;

	buf[0] = '\0';
	for (unsigned int i = 0; i < o->nr_endpoints && n < len; i++)
		n += snprintf(buf + n, len - n, "%s%s", i ? "," : "", o->endpoints[i]);
	return buf;
}

int store_failed(const struct xlb_store_opts *o, int err, const char *what)
{
	char eps[1024];

	switch (err) {
	case -EINVAL:		/* what the store holds is not what xlb writes */
	case -ENOENT:
	case -EEXIST:
	case -ESTALE:		/* another apply won */
	case -EKEYREJECTED:	/* this host holds another hash key */
		p_err("%s: %s", what, xlb_errmsg());
		return XLB_EXIT_REFUSED;
	default:
		p_err("%s: the fleet store (%s) cannot be read: %s", what,
		      store_endpoints(o, eps, sizeof(eps)), xlb_errmsg());
		return XLB_EXIT_SYSTEM;
	}
}
