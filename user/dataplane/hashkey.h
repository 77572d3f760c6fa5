/*
 * The deployment's hash key: a 128-bit secret, the same on every node of a
 * fleet, that keys the flow hash seed and the Maglev permutations so that
 * nobody who knows the backend list can compute client tuples landing on a
 * chosen backend.  Read from the file a configuration names
 * ("hash_key_file": 32 hex digits, mode 0600 or stricter), kept in history
 * records (mode 0600) so that a rollback rebuilds the same tables, never
 * printed: what is shown is its id, a keyed hash that reveals nothing of it.
 * With no key, the published seeds are used (XLB_HASH_SEED and the Maglev
 * defaults): tables are then predictable from the backend list.
 */
#ifndef XLB_HASHKEY_H
#define XLB_HASHKEY_H

#include <stdbool.h>
#include <stddef.h>
#include <linux/types.h>

#define XLB_HASH_KEY_HEX	32	/* digits in a key file */

struct xlb_hash_key {
	bool set;
	__u64 k0, k1;		/* the secret */
};

/* What the tables are built with: derived from the key, or the published defaults. */
struct xlb_hash_seeds {
	__u32 flow;		/* the packet path's flow hash seed (never 0) */
	__u64 offset, skip;	/* Maglev permutation seeds */
};

/* SipHash-2-4 of data under the key (k0, k1). */
__u64 xlb_siphash(__u64 k0, __u64 k1, const void *data, size_t len);
void xlb_hash_seeds(const struct xlb_hash_key *key, struct xlb_hash_seeds *out);
bool xlb_hash_seeds_equal(const struct xlb_hash_seeds *a, const struct xlb_hash_seeds *b);
bool xlb_hash_key_equal(const struct xlb_hash_key *a, const struct xlb_hash_key *b);
/* The key's id, 16 hex digits ("" when no key): safe to print and compare. */
void xlb_hash_key_id(const struct xlb_hash_key *key, char out[17]);
/* Parse 32 hex digits (surrounding white space allowed): 0 or -EINVAL. */
int xlb_hash_key_parse(const char *text, struct xlb_hash_key *key);
/* 32 hex digits of the key into out (history records only). */
void xlb_hash_key_hex(const struct xlb_hash_key *key, char out[XLB_HASH_KEY_HEX + 1]);
/*
 * Read a key file: a regular file of ours or root's, no access for group or
 * others, holding a key.  0, or -errno with why in msg.
 */
int xlb_hash_key_read(const char *path, struct xlb_hash_key *key, char *msg, size_t len);

#endif
