/**
 * @file hash.h  Keyed hashing for hash tables fed by the network
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef PBX_HASH_H
#define PBX_HASH_H

#include <stddef.h>
#include <stdint.h>

/**
 * SipHash-1-3 of @p len bytes under the 128-bit key (@p k0, @p k1). With a
 * random key per table, peers cannot choose keys (branches, addresses)
 * that pile into one bucket. Host byte order: the value never leaves the
 * process.
 */
uint64_t pbx_siphash(const void *data, size_t len, uint64_t k0, uint64_t k1);

#endif
