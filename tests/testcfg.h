/* Configurations from JSON text for cmocka tests (include after <cmocka.h>). */
#ifndef XLB_TESTCFG_H
#define XLB_TESTCFG_H

#include <jansson.h>
#include "config.h"

/* Parse and validate text into cfg; the test fails unless both pass. */
static inline void testcfg_parse(struct xlb_config *cfg, const char *text)
{
	struct xlb_diags d = { 0 };
	json_error_t je;
	json_t *j = json_loads(text, 0, &je);

	assert_non_null(j);
	assert_int_equal(xlb_config_from_json(j, cfg, &d), 0);
	assert_int_equal(xlb_config_validate(cfg, &d), 0);
	json_decref(j);
	xlb_diags_free(&d);
}

#endif
