/* snn_json.h - does a byte string hold one JSON object? (the `meta` section check) */
#ifndef SNN_JSON_H
#define SNN_JSON_H

#include <stdint.h>

/* Maximum nesting of objects/arrays in `meta`; deeper is rejected (docs/snn-format.md). */
#define SNN_JSON_MAX_DEPTH 64u

/* 1 if p[0 .. len) is strict UTF-8 text holding exactly one JSON object, as Python's
 * `json.loads(p.decode())` + `isinstance(..., dict)` accepts it (including Python's NaN,
 * Infinity, -Infinity literals), nested at most SNN_JSON_MAX_DEPTH deep; else 0.
 * Iterative (no recursion), 8 bytes of stack for the nesting, reads only p[0 .. len). */
int snn_json_is_object(const uint8_t *p, uint32_t len);

#endif /* SNN_JSON_H */
