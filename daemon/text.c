/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "text.h"

/* The length of the valid UTF-8 sequence at s (at most n bytes), or 0, and
 * its code point in *code: no overlong forms, no surrogates, nothing above
 * U+10FFFF (what D-Bus takes). */
static size_t utf8_sequence(const unsigned char *s, size_t n, uint32_t *code) {
        uint32_t c;
        size_t len;

        if (s[0] < 0x80) {
                *code = s[0];
                return 1;
        }
        if (s[0] >= 0xc2 && s[0] <= 0xdf)
                len = 2, c = s[0] & 0x1f;
        else if (s[0] >= 0xe0 && s[0] <= 0xef)
                len = 3, c = s[0] & 0x0f;
        else if (s[0] >= 0xf0 && s[0] <= 0xf4)
                len = 4, c = s[0] & 0x07;
        else
                return 0;
        if (len > n)
                return 0;
        for (size_t i = 1; i < len; i++) {
                if ((s[i] & 0xc0) != 0x80)
                        return 0;
                c = (c << 6) | (s[i] & 0x3f);
        }
        if ((len == 3 && c < 0x800) || (len == 4 && (c < 0x10000 || c > 0x10ffff)) ||
            (c >= 0xd800 && c <= 0xdfff))
                return 0;
        *code = c;
        return len;
}

/* What a terminal or a reader acts on rather than shows: C0, DEL and C1
 * (U+009B is CSI, U+009D OSC: UTF-8 terminals obey them as they do ESC [),
 * the line and paragraph separators, and the marks, embeddings, overrides and
 * isolates that reorder the text around them. */
static bool is_control(uint32_t c) {
        return c < 0x20 || (c >= 0x7f && c <= 0x9f) || c == 0x061c || c == 0x200e || c == 0x200f ||
               (c >= 0x2028 && c <= 0x202e) || (c >= 0x2066 && c <= 0x2069);
}

/* Each escape is at most four bytes for each byte it stands for: \xNN for
 * one byte, \u009b for two, \u202e for three. */
static char *escape_one(char *o, const unsigned char *in, size_t n, uint32_t code) {
        if (n == 0)
                return o + sprintf(o, "\\x%02x", in[0]);
        switch (code) {
        case '\n': return o + sprintf(o, "\\n");
        case '\t': return o + sprintf(o, "\\t");
        case '\r': return o + sprintf(o, "\\r");
        case '\\': return o + sprintf(o, "\\\\");
        default:   return o + (n == 1 ? sprintf(o, "\\x%02x", code) : sprintf(o, "\\u%04x", code));
        }
}

static char *escape(const char *s, size_t len, bool backslash) {
        const unsigned char *in = (const unsigned char *) s;
        char *out = malloc(len * 4 + 1), *o = out;

        if (!out)
                return NULL;
        for (size_t i = 0; i < len;) {
                uint32_t code = 0;
                size_t n = utf8_sequence(in + i, len - i, &code);

                if (n > 0 && !is_control(code) && (code != '\\' || !backslash)) {
                        memcpy(o, in + i, n);
                        o += n;
                } else {
                        o = escape_one(o, in + i, n, code);
                }
                i += n > 0 ? n : 1;
        }
        *o = '\0';
        return out;
}

char *text_escape(const char *s, size_t len) {
        return escape(s, len, true);
}

char *text_clean(const char *s) {
        return escape(s, strlen(s), false);
}

int text_is_clean(const char *s) {
        const unsigned char *in = (const unsigned char *) s;
        size_t len = strlen(s);

        for (size_t i = 0; i < len;) {
                uint32_t code;
                size_t n = utf8_sequence(in + i, len - i, &code);

                if (n == 0 || is_control(code))
                        return 0;
                i += n;
        }
        return 1;
}
