/* UTF-8 text into fixed buffers without cutting a character in two. */
#ifndef XLB_UTF8_H
#define XLB_UTF8_H

#include <stddef.h>

/*
 * src into dst (size bytes, NUL-terminated), cut at most at size - 1 bytes
 * and never inside a UTF-8 character: a cut character is left out whole, so
 * valid UTF-8 stays valid (jansson refuses anything else).  The length copied.
 */
size_t xlb_utf8_trunc(char *dst, size_t size, const char *src);

#endif
