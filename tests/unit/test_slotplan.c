/*
 * A commit's new slot contents as a pure function (slotplan.h): no map is
 * open here, the live slot is what a previous plan wrote.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "slotplan.h"
#include "testcfg.h"

#define SVCS(web_size, b3) "{\"second_chance\":true,\"services\":[" \
	"{\"name\":\"web\",\"vip\":\"192.0.2.10\",\"port\":80,\"protocol\":\"tcp\"," \
	"\"table_size\":" #web_size ",\"flow_idle_timeout\":600,\"backends\":[" \
	"{\"address\":\"198.51.100.1\"},{\"address\":\"198.51.100.2\"}," b3 "]}," \
	"{\"name\":\"dns6\",\"vip\":\"2001:db8:a::10\",\"port\":53,\"protocol\":\"udp\"," \
	"\"table_size\":251,\"backends\":[{\"address\":\"2001:db8:b::1\"}," \
	"{\"address\":\"2001:db8:b::2\"}]}]}"
#define B3		"{\"address\":\"198.51.100.3\"}"
#define B3_DRAIN	"{\"address\":\"198.51.100.3\",\"state\":\"drain\"}"
#define NOW		1000
#define GEN		7

/* A generation: its configuration, numbers and what the plan wrote (the live slot next). */
struct gen {
	const struct gen *before;	/* the generation it followed */
	struct xlb_config cfg;
	struct xlb_assign a;
	struct xlb_slot_write w;
};

static struct xlb_backend live_backends[XLB_MAX_BACKENDS];

/* The table a generation published for a service index (a reused one: an earlier one's). */
static __u32 *table_of(const struct gen *g, __u32 index)
{
	for (; g; g = g->before)
		for (__u32 j = 0; j < g->w.nr; j++)
			if (g->w.svcs[j].svc.index == index && !g->w.svcs[j].reuse)
				return g->w.svcs[j].table;
	fail_msg("no table of service index %u", index);
	return NULL;
}

/* The live slot as prev's plan left it, for the services of cfg (by key). */
static void live_of(const struct gen *prev, const struct xlb_config *cfg, struct xlb_live *l)
{
	memset(l, 0, sizeof(*l));
	memset(live_backends, 0, sizeof(live_backends));
	l->backends = live_backends;
	l->svcs = calloc(cfg->nr_services + 1, sizeof(*l->svcs));
	l->replaced_maps = true;
	if (!prev)
		return;
	l->conf = prev->w.conf;
	for (__u32 i = 0; i < prev->w.nr_backends; i++)
		live_backends[prev->w.backends[i].id] = prev->w.backends[i].be;
	for (__u32 i = 0; i < cfg->nr_services; i++)
		for (__u32 j = 0; j < prev->w.nr; j++) {
			const struct xlb_write_service *ws = &prev->w.svcs[j];

			if (ws->key.port != htons(cfg->services[i].port) ||
			    ws->key.proto != cfg->services[i].proto)
				continue;
			l->svcs[i].found = true;
			l->svcs[i].svc = ws->svc;
			l->svcs[i].table = table_of(prev, ws->svc.index);
			l->svcs[i].table_m = ws->svc.table_size;
			l->svcs[i].rep = ws->rep;
			l->svcs[i].prev = ws->rep_table;
			l->svcs[i].prev_m = ws->rep.table_size;
		}
}

/* The next generation after prev (NULL: the first) of configuration text. */
static void next_gen(const struct gen *prev, const char *text, struct gen *g)
{
	static const struct xlb_assign none;
	struct xlb_config empty = { 0 };
	struct xlb_live live;
	struct xlb_slot_input in = { .running = prev ? &prev->cfg : &empty,
				     .live_assign = prev ? &prev->a : &none, .live = &live,
				     .now = NOW, .gen = GEN };

	memset(g, 0, sizeof(*g));
	g->before = prev;
	testcfg_parse(&g->cfg, text);
	assert_int_equal(xlb_assign_build(in.live_assign, NULL, &g->cfg, &g->a), 0);
	in.cfg = &g->cfg;
	in.assign = &g->a;
	live_of(prev, &g->cfg, &live);
	assert_int_equal(xlb_slot_plan(&in, &g->w), 0);
	free(live.svcs);
}

static void gen_free(struct gen *g)
{
	xlb_slot_write_free(&g->w);
	xlb_assign_free(&g->a);
	xlb_config_free(&g->cfg);
}

static void a_first_commit_writes_every_backend_and_table(void **state)
{
	struct gen g;

	(void)state;
	next_gen(NULL, SVCS(1009, B3), &g);
	assert_int_equal(g.w.nr_backends, 5);
	for (__u32 i = 0; i < g.w.nr_backends; i++) {
		assert_true(g.w.backends[i].id > 0 && g.w.backends[i].reset);
		assert_int_equal(g.w.backends[i].be.gen, xlb_assign_find(&g.a,
				 g.cfg.services[g.w.backends[i].be.service].name,
				 &g.w.backends[i].be.addr, g.w.backends[i].be.family)->gen);
	}
	assert_int_equal(g.w.nr, 2);
	for (__u32 i = 0; i < g.w.nr; i++) {
		const struct xlb_write_service *ws = &g.w.svcs[i];

		assert_true(ws->has_table && !ws->reuse && !ws->replaced && ws->reset);
		assert_int_equal(ws->svc.hold_until, 0);
		assert_int_equal(ws->svc.table_size, g.cfg.services[i].table_size);
		for (__u32 b = 0; b < ws->svc.table_size; b++)
			assert_true(XLB_TABLE_CUR(ws->table[b]) && !XLB_TABLE_PREV(ws->table[b]));
	}
	assert_int_equal(g.w.conf.generation, GEN);
	assert_true(g.w.conf.flags & XLB_SLOT_F_CONFIGURED);
	assert_true(g.w.conf.flags & XLB_SLOT_F_SECOND_CHANCE);
	gen_free(&g);
}

static void an_unchanged_service_keeps_its_live_table(void **state)
{
	struct gen g1, g2;

	(void)state;
	next_gen(NULL, SVCS(1009, B3), &g1);
	next_gen(&g1, SVCS(1009, B3), &g2);
	for (__u32 i = 0; i < g2.w.nr; i++) {
		assert_true(g2.w.svcs[i].reuse && !g2.w.svcs[i].reset);
		assert_int_equal(g2.w.svcs[i].live_index, g1.w.svcs[i].svc.index);
		assert_null(g2.w.svcs[i].table);
	}
	for (__u32 i = 0; i < g2.w.nr_backends; i++)
		assert_false(g2.w.backends[i].reset);
	gen_free(&g2);
	gen_free(&g1);
}

/* A drained backend's slots move; each keeps it as its previous backend. */
static void a_drain_leaves_moved_slots_with_their_previous_backend(void **state)
{
	struct gen g1, g2;
	__u32 moved = 0;

	(void)state;
	next_gen(NULL, SVCS(1009, B3), &g1);
	next_gen(&g1, SVCS(1009, B3_DRAIN), &g2);
	for (__u32 b = 0; b < 1009; b++) {
		__u32 was = g1.w.svcs[0].table[b], is = g2.w.svcs[0].table[b];

		if (XLB_TABLE_CUR(was) == XLB_TABLE_CUR(is)) {
			assert_int_equal(XLB_TABLE_PREV(is), 0);
			continue;
		}
		assert_int_equal(XLB_TABLE_PREV(is), XLB_TABLE_CUR(was));
		moved++;
	}
	assert_true(moved > 200);	/* a third of the slots */
	assert_int_equal(g2.w.svcs[0].svc.hold_until, NOW + 600);
	assert_true(g2.w.svcs[1].reuse);	/* dns6 unchanged */
	gen_free(&g2);
	gen_free(&g1);
}

/* Another table size: the live placement is held as the previous one. */
static void a_new_table_size_holds_the_previous_placement(void **state)
{
	struct gen g1, g2, g3;

	(void)state;
	next_gen(NULL, SVCS(1009, B3), &g1);
	next_gen(&g1, SVCS(2039, B3), &g2);
	assert_true(g2.w.svcs[0].replaced);
	assert_int_equal(g2.w.svcs[0].rep.table_size, 1009);
	assert_memory_equal(g2.w.svcs[0].rep_table, g1.w.svcs[0].table, 1009 * sizeof(__u32));
	assert_int_equal(g2.w.svcs[0].svc.hold_until, NOW + 600);
	for (__u32 b = 0; b < 2039; b++)
		assert_int_equal(XLB_TABLE_PREV(g2.w.svcs[0].table[b]), 0);
	/* the next change of the same shape carries it over, without the drained one's use */
	next_gen(&g2, SVCS(2039, B3_DRAIN), &g3);
	assert_true(g3.w.svcs[0].replaced);
	assert_memory_equal(g3.w.svcs[0].rep_table, g1.w.svcs[0].table, 1009 * sizeof(__u32));
	gen_free(&g3);
	gen_free(&g2);
	gen_free(&g1);
}

/* Pure: the same input gives the same plan twice, and the input is left as it was. */
static void the_plan_is_a_function_of_its_input(void **state)
{
	struct gen g1, g2, g3;
	__u32 *copy = malloc(1009 * sizeof(__u32));

	(void)state;
	next_gen(NULL, SVCS(1009, B3), &g1);
	memcpy(copy, g1.w.svcs[0].table, 1009 * sizeof(__u32));
	next_gen(&g1, SVCS(1009, B3_DRAIN), &g2);
	next_gen(&g1, SVCS(1009, B3_DRAIN), &g3);
	assert_memory_equal(copy, g1.w.svcs[0].table, 1009 * sizeof(__u32));
	assert_int_equal(g2.w.nr_backends, g3.w.nr_backends);
	assert_memory_equal(g2.w.backends, g3.w.backends, g2.w.nr_backends * sizeof(*g2.w.backends));
	assert_memory_equal(g2.w.svcs[0].table, g3.w.svcs[0].table, 1009 * sizeof(__u32));
	assert_memory_equal(&g2.w.svcs[0].svc, &g3.w.svcs[0].svc, sizeof(g2.w.svcs[0].svc));
	assert_memory_equal(&g2.w.conf, &g3.w.conf, sizeof(g2.w.conf));
	free(copy);
	gen_free(&g3);
	gen_free(&g2);
	gen_free(&g1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(a_first_commit_writes_every_backend_and_table),
		cmocka_unit_test(an_unchanged_service_keeps_its_live_table),
		cmocka_unit_test(a_drain_leaves_moved_slots_with_their_previous_backend),
		cmocka_unit_test(a_new_table_size_holds_the_previous_placement),
		cmocka_unit_test(the_plan_is_a_function_of_its_input),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
