/* xlb_utf8_trunc: text cut to a buffer never inside a UTF-8 character. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>
#include "utf8.h"

static void test_fits(void **state)
{
	char b[8];

	(void)state;
	assert_int_equal(xlb_utf8_trunc(b, sizeof(b), "abc"), 3);
	assert_string_equal(b, "abc");
	assert_int_equal(xlb_utf8_trunc(b, sizeof(b), "1234567"), 7);	/* exactly */
	assert_string_equal(b, "1234567");
	assert_int_equal(xlb_utf8_trunc(b, sizeof(b), NULL), 0);
	assert_string_equal(b, "");
	assert_int_equal(xlb_utf8_trunc(b, 1, "abc"), 0);
	assert_string_equal(b, "");
}

static void test_cut(void **state)
{
	char b[8];

	(void)state;
	assert_int_equal(xlb_utf8_trunc(b, sizeof(b), "abcdefghij"), 7);	/* ASCII: 7 bytes */
	assert_string_equal(b, "abcdefg");
	/* é is 2 bytes: 3 fit in 7 (6 bytes), the 4th would be cut: left out whole */
	assert_int_equal(xlb_utf8_trunc(b, sizeof(b), "éééé"), 6);
	assert_string_equal(b, "ééé");
	/* € is 3 bytes: "a€€" is 7 and fits; "ab€€" would cut the second € after 1 or 2 bytes */
	assert_int_equal(xlb_utf8_trunc(b, sizeof(b), "a€€x"), 7);
	assert_string_equal(b, "a€€");
	assert_int_equal(xlb_utf8_trunc(b, sizeof(b), "ab€€"), 5);
	assert_string_equal(b, "ab€");
	assert_int_equal(xlb_utf8_trunc(b, sizeof(b), "abcde€"), 5);	/* € starts at the cut-1 */
	assert_string_equal(b, "abcde");
	/* 😀 is 4 bytes: the second one does not fit in 7 */
	assert_int_equal(xlb_utf8_trunc(b, sizeof(b), "😀😀"), 4);
	assert_string_equal(b, "😀");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fits),
		cmocka_unit_test(test_cut),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
