/*
 * snn_json.c - validator for the `meta` section: strict UTF-8, then one JSON object.
 *
 * It reproduces what the host reader (snnctl/snnfile.py: bytes.decode() then json.loads) accepts,
 * so a device and the host give the same verdict on a file: RFC 8259 JSON plus Python's NaN,
 * Infinity and -Infinity, no control characters inside strings, any \uXXXX escape (lone
 * surrogates included), whitespace = space, tab, LF, CR, no byte-order mark. Nothing is stored.
 */
#include "snn_json.h"

#include "snn_blob.h"

/* The text lies in the blob: every byte is read through the blob hook (snn_blob.h). */
#define AT(k) SNN_BLOB_U8(p + (k))

/* Strict UTF-8 (Unicode Table 3-7): no overlongs, no surrogates, nothing above U+10FFFF. */
static int utf8_valid(const uint8_t *p, uint32_t len)
{
    uint32_t i = 0u;
    while (i < len) {
        uint8_t c = AT(i);
        uint8_t lo = 0x80u, hi = 0xBFu; /* allowed range of the first continuation byte */
        uint32_t more, k;
        if (c < 0x80u) {
            i++;
            continue;
        }
        if (c >= 0xC2u && c <= 0xDFu) {
            more = 1u;
        } else if (c >= 0xE0u && c <= 0xEFu) {
            more = 2u;
            if (c == 0xE0u) {
                lo = 0xA0u;
            } else if (c == 0xEDu) {
                hi = 0x9Fu;
            }
        } else if (c >= 0xF0u && c <= 0xF4u) {
            more = 3u;
            if (c == 0xF0u) {
                lo = 0x90u;
            } else if (c == 0xF4u) {
                hi = 0x8Fu;
            }
        } else {
            return 0;
        }
        if (len - i - 1u < more) {
            return 0;
        }
        for (k = 1u; k <= more; k++) {
            uint8_t b = AT(i + k);
            if (k == 1u ? (b < lo || b > hi) : (b < 0x80u || b > 0xBFu)) {
                return 0;
            }
        }
        i += 1u + more;
    }
    return 1;
}

static uint32_t skip_ws(const uint8_t *p, uint32_t len, uint32_t i)
{
    while (i < len && (AT(i) == ' ' || AT(i) == '\t' || AT(i) == '\n' || AT(i) == '\r')) {
        i++;
    }
    return i;
}

static int is_digit(uint8_t c)
{
    return c >= '0' && c <= '9';
}

static int is_hex(uint8_t c)
{
    return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* If p[i ..] starts with the ASCII word w, return the index after it, else 0. */
static uint32_t match_word(const uint8_t *p, uint32_t len, uint32_t i, const char *w)
{
    while (*w != '\0') {
        if (i >= len || AT(i) != (uint8_t)*w) {
            return 0u;
        }
        i++;
        w++;
    }
    return i;
}

/* String starting at the opening quote p[i]; index after the closing quote, or 0. */
static uint32_t scan_string(const uint8_t *p, uint32_t len, uint32_t i)
{
    i++;
    while (i < len) {
        uint8_t c = AT(i);
        if (c == '"') {
            return i + 1u;
        }
        if (c < 0x20u) {
            return 0u; /* control characters must be escaped */
        }
        if (c == '\\') {
            uint8_t e;
            if (i + 1u >= len) {
                return 0u;
            }
            e = AT(i + 1u);
            if (e == 'u') {
                uint32_t k;
                if (len - i < 6u) {
                    return 0u;
                }
                for (k = 2u; k < 6u; k++) {
                    if (!is_hex(AT(i + k))) {
                        return 0u;
                    }
                }
                i += 6u;
                continue;
            }
            if (e != '"' && e != '\\' && e != '/' && e != 'b' && e != 'f' && e != 'n' && e != 'r' && e != 't') {
                return 0u;
            }
            i += 2u;
            continue;
        }
        i++; /* ASCII or a byte of a (validated) UTF-8 sequence */
    }
    return 0u;
}

/* Number -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? at p[i]; index after it, or 0. An
 * incomplete fraction or exponent ends the number early; the left-over byte then fails the
 * caller, as in Python. */
static uint32_t scan_number(const uint8_t *p, uint32_t len, uint32_t i)
{
    uint32_t j;
    if (AT(i) == '-') {
        i++;
    }
    if (i >= len || !is_digit(AT(i))) {
        return 0u;
    }
    if (AT(i) == '0') {
        i++;
    } else {
        while (i < len && is_digit(AT(i))) {
            i++;
        }
    }
    if (i + 1u < len && AT(i) == '.' && is_digit(AT(i + 1u))) {
        i += 2u;
        while (i < len && is_digit(AT(i))) {
            i++;
        }
    }
    if (i < len && (AT(i) == 'e' || AT(i) == 'E')) {
        j = i + 1u;
        if (j < len && (AT(j) == '+' || AT(j) == '-')) {
            j++;
        }
        if (j < len && is_digit(AT(j))) {
            while (j < len && is_digit(AT(j))) {
                j++;
            }
            i = j;
        }
    }
    return i;
}

/* A scalar value (string, number, literal) at p[i]; index after it, or 0. */
static uint32_t scan_scalar(const uint8_t *p, uint32_t len, uint32_t i)
{
    uint8_t c = AT(i);
    if (c == '"') {
        return scan_string(p, len, i);
    }
    if (c == '-' && i + 1u < len && AT(i + 1u) == 'I') {
        return match_word(p, len, i, "-Infinity");
    }
    if (c == '-' || is_digit(c)) {
        return scan_number(p, len, i);
    }
    if (c == 't') {
        return match_word(p, len, i, "true");
    }
    if (c == 'f') {
        return match_word(p, len, i, "false");
    }
    if (c == 'n') {
        return match_word(p, len, i, "null");
    }
    if (c == 'N') {
        return match_word(p, len, i, "NaN");
    }
    if (c == 'I') {
        return match_word(p, len, i, "Infinity");
    }
    return 0u;
}

enum { EXPECT_VALUE, EXPECT_KEY, AFTER_VALUE };

int snn_json_is_object(const uint8_t *p, uint32_t len)
{
    uint8_t is_obj[SNN_JSON_MAX_DEPTH / 8u] = {0}; /* bit d: container at depth d is an object */
    uint32_t depth = 0u, i;
    int state = EXPECT_VALUE;

    if (!utf8_valid(p, len)) {
        return 0;
    }
    i = skip_ws(p, len, 0u);
    if (i >= len || AT(i) != '{') {
        return 0; /* the top level must be an object */
    }
    for (;;) {
        i = skip_ws(p, len, i);
        if (state == AFTER_VALUE && depth == 0u) {
            return i == len; /* only whitespace may follow the object */
        }
        if (i >= len) {
            return 0;
        }
        if (state == EXPECT_KEY) {
            if (AT(i) != '"') {
                return 0;
            }
            i = scan_string(p, len, i);
            if (i == 0u) {
                return 0;
            }
            i = skip_ws(p, len, i);
            if (i >= len || AT(i) != ':') {
                return 0;
            }
            i++;
            state = EXPECT_VALUE;
        } else if (state == EXPECT_VALUE) {
            uint8_t c = AT(i);
            if (c == '{' || c == '[') {
                uint8_t bit = (uint8_t)(1u << (depth & 7u));
                if (depth >= SNN_JSON_MAX_DEPTH) {
                    return 0;
                }
                if (c == '{') {
                    is_obj[depth >> 3] = (uint8_t)(is_obj[depth >> 3] | bit);
                } else {
                    is_obj[depth >> 3] = (uint8_t)(is_obj[depth >> 3] & (uint8_t)~bit);
                }
                depth++;
                i = skip_ws(p, len, i + 1u);
                if (i < len && AT(i) == (c == '{' ? '}' : ']')) { /* empty container */
                    depth--;
                    i++;
                    state = AFTER_VALUE;
                } else {
                    state = c == '{' ? EXPECT_KEY : EXPECT_VALUE;
                }
            } else {
                i = scan_scalar(p, len, i);
                if (i == 0u) {
                    return 0;
                }
                state = AFTER_VALUE;
            }
        } else { /* AFTER_VALUE inside a container */
            uint32_t top = depth - 1u;
            int obj = (is_obj[top >> 3] >> (top & 7u)) & 1;
            if (AT(i) == ',') {
                i++;
                state = obj ? EXPECT_KEY : EXPECT_VALUE;
            } else if (AT(i) == (obj ? '}' : ']')) {
                i++;
                depth--;
            } else {
                return 0;
            }
        }
    }
}
