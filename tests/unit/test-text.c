/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <stdlib.h>
#include <string.h>

#include "test.h"
#include "text.h"

static int escapes_to(const char *in, size_t len, const char *expected) {
        char *out = text_escape(in, len);
        int ok = out && strcmp(out, expected) == 0 && text_is_clean(out);

        if (!ok)
                fprintf(stderr, "escaped to '%s', expected '%s'\n", out ? out : "(null)", expected);
        free(out);
        return ok;
}

TEST(plain_text_and_utf8_pass) {
        CHECK(escapes_to("make -C /tmp/x", 14, "make -C /tmp/x"));
        static const char utf8[] = "gcc \xc3\xa9t\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80";
        CHECK(escapes_to(utf8, strlen(utf8), utf8));
}

TEST(control_characters_cannot_forge_a_line) {
        CHECK(escapes_to("x\n<0>forged", 11, "x\\n<0>forged"));
        CHECK(escapes_to("a\tb\rc\x1b[31m\x7f", 11, "a\\tb\\rc\\x1b[31m\\x7f"));
}

TEST(invalid_utf8_is_escaped_byte_by_byte) {
        CHECK(escapes_to("\xff\xfe", 2, "\\xff\\xfe"));
        CHECK(escapes_to("\xc0\xaf", 2, "\\xc0\\xaf"));                   /* overlong '/' */
        CHECK(escapes_to("\xed\xa0\x80", 3, "\\xed\\xa0\\x80"));          /* a surrogate */
        CHECK(escapes_to("\xf4\x90\x80\x80", 4, "\\xf4\\x90\\x80\\x80"));  /* above U+10FFFF */
        /* a character cut at the end, as a 1024-byte limit cuts it */
        CHECK(escapes_to("ab\xe2\x82", 4, "ab\\xe2\\x82"));
}

TEST(embedded_nul_and_length) {
        CHECK(escapes_to("a\0b", 3, "a\\x00b"));
        CHECK(escapes_to("abcdef", 3, "abc"));
        CHECK(escapes_to("", 0, ""));
}

TEST(clean_means_utf8_without_controls) {
        CHECK(text_is_clean("make"));
        CHECK(!text_is_clean("a\nb"));
        CHECK(!text_is_clean("\xff"));
}

int main(void) {
        return test_run_all();
}
