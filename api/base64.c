/* base64.c - base64 encoding and a strict, whitespace-tolerant decoder. */
#include "base64.h"

#include <stdlib.h>
#include <string.h>

static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

size_t api_base64_encoded_len(size_t n) { return (n + 2) / 3 * 4; }

/* api_base64_encoded_len(n) characters, no NUL. */
static void encode_chars(const uint8_t *in, size_t n, char *out) {
    size_t i = 0, o = 0;
    for (; i + 2 < n; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
        out[o++] = alphabet[v >> 18], out[o++] = alphabet[(v >> 12) & 63];
        out[o++] = alphabet[(v >> 6) & 63], out[o++] = alphabet[v & 63];
    }
    if (i < n) {
        uint32_t v = (uint32_t)in[i] << 16 | (i + 1 < n ? (uint32_t)in[i + 1] << 8 : 0);
        out[o++] = alphabet[v >> 18], out[o++] = alphabet[(v >> 12) & 63];
        out[o++] = i + 1 < n ? alphabet[(v >> 6) & 63] : '=';
        out[o++] = '=';
    }
}

void api_base64_encode(const uint8_t *in, size_t n, char *out) {
    encode_chars(in, n, out);
    out[api_base64_encoded_len(n)] = 0;
}

typedef struct {
    const uint8_t *in;
    size_t n;
    char *out;
} base64_job;

/* Piece i of n: whole 3-byte groups, so each piece's characters land where a one-piece
 * encoding puts them; the last piece takes the padding. */
static void base64_piece(void *arg, int i, int n) {
    base64_job *j = arg;
    size_t groups = j->n / 3, g0 = groups * (size_t)i / (size_t)n, g1 = groups * (size_t)(i + 1) / (size_t)n;
    size_t end = i == n - 1 ? j->n : g1 * 3;
    encode_chars(j->in + g0 * 3, end - g0 * 3, j->out + g0 * 4);
}

void api_base64_encode_parallel(const uint8_t *in, size_t n, char *out, const api_parallel *par) {
    base64_job j = {in, n, out};
    if (!par || par->threads < 2 || n < (64u << 10))
        api_base64_encode(in, n, out);
    else {
        par->run(par->runner, base64_piece, &j);
        out[api_base64_encoded_len(n)] = 0;
    }
}

static int sextet(unsigned char c) {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
}

api_status api_base64_decode(const char *text, size_t len, size_t max_out, uint8_t **out, size_t *out_len,
                             api_error *e) {
    *out = NULL;
    *out_len = 0;
    if (len >= 5 && !memcmp(text, "data:", 5)) { /* data URL: skip to after ";base64," */
        const char *comma = memchr(text, ',', len);
        if (!comma || comma - text < 12 || memcmp(comma - 7, ";base64", 7))
            return api_fail(e, API_BAD_REQUEST, "a data: URL must be base64 (data:...;base64,...)");
        len -= (size_t)(comma + 1 - text);
        text = comma + 1;
    }
    if (len / 4 * 3 > max_out + 3) goto too_large;
    uint8_t *buf = malloc(len / 4 * 3 + 3);
    if (!buf) return api_fail(e, API_INTERNAL, "out of memory decoding base64");
    uint32_t acc = 0;
    int bits = 0, pad = 0;
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)text[i];
        if (c == ' ' || c == '\n' || c == '\r' || c == '\t') continue;
        if (c == '=') {
            pad++;
            continue;
        }
        int v = sextet(c);
        if (v < 0 || pad) goto bad; /* nothing may follow padding */
        acc = acc << 6 | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            if (o >= max_out) {
                free(buf);
                goto too_large;
            }
            buf[o++] = (uint8_t)(acc >> bits);
        }
    }
    /* leftover bits must be zero padding of a 2- or 3-char final group */
    if (bits >= 6 || (acc & ((1u << bits) - 1)) || pad > 2 || (pad && (bits / 2 != pad))) goto bad;
    *out = buf;
    *out_len = o;
    return API_OK;
bad:
    free(buf);
    return api_fail(e, API_BAD_REQUEST, "\"image\" is not valid base64");
too_large:
    return api_fail_limit(e, "max_body_bytes", "the decoded image exceeds max_body_bytes = %zu", max_out);
}
