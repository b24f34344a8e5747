/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "text.h"

/* The length of the valid UTF-8 sequence at s (at most n bytes), or 0:
 * no overlong forms, no surrogates, nothing above U+10FFFF (what D-Bus takes). */
static size_t utf8_sequence(const unsigned char *s, size_t n) {
        uint32_t c;
        size_t len;

        if (s[0] < 0x80)
                return 1;
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
        return len;
}

static bool is_control(unsigned char c) {
        return c < 0x20 || c == 0x7f;
}

char *text_escape(const char *s, size_t len) {
        const unsigned char *in = (const unsigned char *) s;
        char *out = malloc(len * 4 + 1), *o = out;

        if (!out)
                return NULL;
        for (size_t i = 0; i < len;) {
                size_t n = in[i] == 0 ? 0 : utf8_sequence(in + i, len - i);

                if (n > 0 && !is_control(in[i])) {
                        memcpy(o, in + i, n);
                        o += n;
                        i += n;
                        continue;
                }
                switch (in[i]) {
                case '\n': o += sprintf(o, "\\n"); break;
                case '\t': o += sprintf(o, "\\t"); break;
                case '\r': o += sprintf(o, "\\r"); break;
                default:   o += sprintf(o, "\\x%02x", in[i]); break;
                }
                i++;
        }
        *o = '\0';
        return out;
}

int text_is_clean(const char *s) {
        const unsigned char *in = (const unsigned char *) s;
        size_t len = strlen(s);

        for (size_t i = 0; i < len;) {
                size_t n = utf8_sequence(in + i, len - i);

                if (n == 0 || is_control(in[i]))
                        return 0;
                i += n;
        }
        return 1;
}
