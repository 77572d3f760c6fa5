/* The deployment's hash key; see hashkey.h. */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "hashkey.h"
#include "xlb_abi.h"

/* The Maglev seeds of a configuration without a key (the tables of earlier versions). */
#define SEED_OFFSET	0x5851f42d4c957f2dull
#define SEED_SKIP	0x14057b7ef767814full

static __u64 rotl(__u64 x, int b)
{
	return (x << b) | (x >> (64 - b));
}

#define SIPROUND(v0, v1, v2, v3) do {					\
	v0 += v1; v1 = rotl(v1, 13); v1 ^= v0; v0 = rotl(v0, 32);	\
	v2 += v3; v3 = rotl(v3, 16); v3 ^= v2;				\
	v0 += v3; v3 = rotl(v3, 21); v3 ^= v0;				\
	v2 += v1; v1 = rotl(v1, 17); v1 ^= v2; v2 = rotl(v2, 32);	\
} while (0)

__u64 xlb_siphash(__u64 k0, __u64 k1, const void *data, size_t len)
{
	__u64 v0 = 0x736f6d6570736575ull ^ k0, v1 = 0x646f72616e646f6dull ^ k1;
	__u64 v2 = 0x6c7967656e657261ull ^ k0, v3 = 0x7465646279746573ull ^ k1;
	const unsigned char *p = data;
	__u64 m, last = (__u64)len << 56;
	size_t i;

	for (i = 0; i + 8 <= len; i += 8) {
		m = 0;
		for (int b = 0; b < 8; b++)
			m |= (__u64)p[i + b] << (8 * b);
		v3 ^= m;
		SIPROUND(v0, v1, v2, v3);
		SIPROUND(v0, v1, v2, v3);
		v0 ^= m;
	}
	for (int b = 0; i + b < len; b++)
		last |= (__u64)p[i + b] << (8 * b);
	v3 ^= last;
	SIPROUND(v0, v1, v2, v3);
	SIPROUND(v0, v1, v2, v3);
	v0 ^= last;
	v2 ^= 0xff;
	for (int r = 0; r < 4; r++)
		SIPROUND(v0, v1, v2, v3);
	return v0 ^ v1 ^ v2 ^ v3;
}

static __u64 derive(const struct xlb_hash_key *key, const char *label)
{
	return xlb_siphash(key->k0, key->k1, label, strlen(label));
}

void xlb_hash_seeds(const struct xlb_hash_key *key, struct xlb_hash_seeds *out)
{
	if (!key || !key->set) {
		out->flow = XLB_HASH_SEED;
		out->offset = SEED_OFFSET;
		out->skip = SEED_SKIP;
		return;
	}
	out->flow = (__u32)derive(key, "xlb flow seed") | 1;	/* 0 means "default" in maps */
	out->offset = derive(key, "xlb maglev offset");
	out->skip = derive(key, "xlb maglev skip");
}

bool xlb_hash_seeds_equal(const struct xlb_hash_seeds *a, const struct xlb_hash_seeds *b)
{
	return a->flow == b->flow && a->offset == b->offset && a->skip == b->skip;
}

bool xlb_hash_key_equal(const struct xlb_hash_key *a, const struct xlb_hash_key *b)
{
	return a->set == b->set && (!a->set || (a->k0 == b->k0 && a->k1 == b->k1));
}

void xlb_hash_key_id(const struct xlb_hash_key *key, char out[17])
{
	out[0] = '\0';
	if (key && key->set)
		snprintf(out, 17, "%016llx", (unsigned long long)derive(key, "xlb key id"));
}

int xlb_hash_key_parse(const char *text, struct xlb_hash_key *key)
{
	char hex[XLB_HASH_KEY_HEX + 1];
	size_t n;

	memset(key, 0, sizeof(*key));
	while (isspace((unsigned char)*text))
		text++;
	n = strspn(text, "0123456789abcdefABCDEF");
	if (n != XLB_HASH_KEY_HEX)
		return -EINVAL;
	for (const char *p = text + n; *p; p++)
		if (!isspace((unsigned char)*p))
			return -EINVAL;
	memcpy(hex, text, n);
	hex[n] = '\0';
	if (sscanf(hex, "%16llx", (unsigned long long *)&key->k0) != 1 ||
	    sscanf(hex + 16, "%16llx", (unsigned long long *)&key->k1) != 1)
		return -EINVAL;
	key->set = true;
	return 0;
}

void xlb_hash_key_hex(const struct xlb_hash_key *key, char out[XLB_HASH_KEY_HEX + 1])
{
	snprintf(out, XLB_HASH_KEY_HEX + 1, "%016llx%016llx", (unsigned long long)key->k0,
		 (unsigned long long)key->k1);
}

int xlb_hash_key_read(const char *path, struct xlb_hash_key *key, char *msg, size_t len)
{
	char text[128];
	struct stat st;
	ssize_t n;
	int fd, err = 0;

	memset(key, 0, sizeof(*key));
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		err = -errno;
		snprintf(msg, len, "cannot open the hash key file %s: %s", path, strerror(errno));
		return err;
	}
	if (fstat(fd, &st) || !S_ISREG(st.st_mode)) {
		snprintf(msg, len, "the hash key file %s is not a regular file", path);
		err = -EINVAL;
	} else if (st.st_uid != geteuid() && st.st_uid != 0) {
		snprintf(msg, len, "the hash key file %s belongs to uid %u: it must be ours or "
			 "root's", path, st.st_uid);
		err = -EPERM;
	} else if (st.st_mode & 077) {
		snprintf(msg, len, "the hash key file %s may be read by others (mode %04o): it is a "
			 "secret (chmod 600 %s)", path, st.st_mode & 07777, path);
		err = -EPERM;
	} else if ((n = read(fd, text, sizeof(text) - 1)) < 0 || (size_t)n == sizeof(text) - 1) {
		snprintf(msg, len, "the hash key file %s: %s", path,
			 n < 0 ? strerror(errno) : "too long for a key");
		err = -EINVAL;
	} else {
		text[n] = '\0';
		err = xlb_hash_key_parse(text, key);
		if (err)
			snprintf(msg, len, "the hash key file %s does not hold a key: %d hex digits "
				 "are expected (make one with: od -An -tx1 -N16 /dev/urandom | "
				 "tr -d ' \\n' > %s)", path, XLB_HASH_KEY_HEX, path);
	}
	explicit_bzero(text, sizeof(text));
	close(fd);
	return err;
}
