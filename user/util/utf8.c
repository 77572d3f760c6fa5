/* UTF-8 text into fixed buffers without cutting a character in two. */
#include <string.h>
#include "utf8.h"

size_t xlb_utf8_trunc(char *dst, size_t size, const char *src)
{
	size_t n;

	if (!size)
		return 0;
	n = strnlen(src ? src : "", size);
	if (n == size) {	/* longer than dst: cut, back to the start of the character cut */
		n = size - 1;
		while (n && ((unsigned char)src[n] & 0xc0) == 0x80)
			n--;
	}
	if (n)
		memcpy(dst, src, n);
	dst[n] = '\0';
	return n;
}
