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

TEST(c1_controls_and_bidi_cannot_steer_a_terminal) {
        /* CSI (U+009B) and OSC (U+009D): ESC [ and ESC ] to a UTF-8 terminal */
        CHECK(escapes_to("a\xc2\x9b" "31mb\xc2\x9d" "0;x\xc2\x9c", 14, "a\\u009b31mb\\u009d0;x\\u009c"));
        CHECK(escapes_to("\xc2\x85", 2, "\\u0085"));                        /* NEL */
        /* a right-to-left override that would show "make" for "ekam" */
        CHECK(escapes_to("\xe2\x80\xae" "ekam\xe2\x80\xac", 10, "\\u202eekam\\u202c"));
        CHECK(escapes_to("\xe2\x81\xa6x\xe2\x81\xa9", 7, "\\u2066x\\u2069"));   /* isolates */
        CHECK(escapes_to("\xe2\x80\x8f\xd8\x9c\xe2\x80\xa8", 8, "\\u200f\\u061c\\u2028"));
        /* the neighbours stay what they are */
        CHECK(escapes_to("\xc2\xa0\xe2\x80\xaf\xe2\x81\xaa", 8, "\xc2\xa0\xe2\x80\xaf\xe2\x81\xaa"));
}

TEST(a_backslash_cannot_forge_an_escape) {
        CHECK(escapes_to("a\\x1b[31m", 9, "a\\\\x1b[31m"));
        CHECK(escapes_to("\\", 1, "\\\\"));
}

TEST(the_output_fits_four_bytes_a_byte) {
        static const char worst[] = "\x01\xc2\x9b\xe2\x80\xae\\\xff";
        char *out = text_escape(worst, strlen(worst));

        CHECK(out && strlen(out) <= 4 * strlen(worst));
        CHECK(out && strcmp(out, "\\x01\\u009b\\u202e\\\\\\xff") == 0);
        free(out);
}

TEST(cleaning_escaped_text_leaves_it_as_it_was) {
        char *once = text_escape("a\\b\x1b", 4), *twice = once ? text_clean(once) : NULL;

        CHECK(twice && strcmp(twice, "a\\\\b\\x1b") == 0);
        free(twice);
        free(once);
        twice = text_clean("x\xc2\x9b" "2J\xe2\x80\xae");
        CHECK(twice && strcmp(twice, "x\\u009b2J\\u202e") == 0);
        free(twice);
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
        CHECK(!text_is_clean("\xc2\x9b"));
        CHECK(!text_is_clean("\xe2\x80\xae"));
        CHECK(text_is_clean("a\\b"));
}

int main(void) {
        return test_run_all();
}
