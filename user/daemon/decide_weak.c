/*
 * Stand-ins until verdicts.c and fleetroll.c land (issue 24): weak, doing
 * nothing, so the decide job builds and runs alone.  The real definitions
 * override them; this file is deleted when they are merged.
 */
#include "state.h"
#include "decide.h"

__attribute__((weak)) void verdicts_record(struct daemon *d, json_t *value, __s64 mod_rev)
{
	(void)d;
	(void)value;
	(void)mod_rev;
}

__attribute__((weak)) void verdicts_tick(struct daemon *d)
{
	(void)d;
}

__attribute__((weak)) void verdicts_nodes_changed(struct daemon *d)
{
	(void)d;
}

__attribute__((weak)) void fleetroll_record(struct daemon *d, json_t *value, __s64 mod_rev)
{
	(void)d;
	(void)value;
	(void)mod_rev;
}

__attribute__((weak)) void fleetroll_tick(struct daemon *d)
{
	(void)d;
}
