/* XXH64 (seed 0): the content hash of archive sections and segments.
 * Chosen over a cryptographic hash because it runs at memory speed, which
 * matters for cold start; it detects corruption, not tampering. */
#ifndef TTP_XXHASH64_H_
#define TTP_XXHASH64_H_

#include <stddef.h>
#include <stdint.h>

uint64_t ttp_xxh64(const void* data, size_t size);

#endif /* TTP_XXHASH64_H_ */
