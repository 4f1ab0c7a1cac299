/* test_fileio.c - message escaping (issue 12 finding 6) and the size-limited
 * reader (finding 3 and "every reader has a size limit"). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fileio.h"
#include "status.h"

static void check_escape(const char *in, size_t n, const char *want)
{
    char out[256];
    idim_escape(out, sizeof out, in, n);
    if (strcmp(out, want) != 0)
        fail_msg("escape: got '%s', want '%s'", out, want);
}

static void test_escape(void **st)
{
    (void)st;
    check_escape("plain text", 10, "plain text");
    check_escape("tab\there", 8, "tab\\x09here");
    check_escape("a\nb\rc", 5, "a\\x0ab\\x0dc");
    check_escape("\x1b[2Jclear", 9, "\\x1b[2Jclear");          /* terminal escape */
    check_escape("del\x7f", 4, "del\\x7f");
    check_escape("caf\xc3\xa9 \xe6\x97\xa5 \xf0\x9f\x98\x80", 14,
                 "caf\xc3\xa9 \xe6\x97\xa5 \xf0\x9f\x98\x80"); /* valid UTF-8 stays */
    check_escape("\xff\xfe", 2, "\\xff\\xfe");                  /* not UTF-8 */
    check_escape("\xc3", 1, "\\xc3");                           /* truncated sequence */
    check_escape("\xc0\xaf", 2, "\\xc0\\xaf");                  /* overlong '/' */
    check_escape("\xe0\x80\xaf", 3, "\\xe0\\x80\\xaf");         /* overlong, 3 bytes */
    check_escape("\xed\xa0\x80", 3, "\\xed\\xa0\\x80");         /* UTF-16 surrogate */
    check_escape("\xf4\x90\x80\x80", 4, "\\xf4\\x90\\x80\\x80"); /* above U+10FFFF */
    check_escape("\xc2\x9b" "1m", 4, "\\xc2\\x9b1m");           /* C1 CSI */
    check_escape("a\0b", 3, "a\\x00b");
    /* never splits an escape or a character at the end of the buffer */
    char small[6];
    idim_escape(small, sizeof small, "ab\x1b", 3);
    assert_string_equal(small, "ab");
    idim_escape(small, sizeof small, "abcd\xc3\xa9", 6);
    assert_string_equal(small, "abcd");
}

static void test_fail_escapes(void **st)
{
    (void)st;
    struct idim_err err;
    assert_int_equal(idim_fail(&err, IDIM_ERR_FORMAT, "%s: bad label '%s'", "t.tsv", "x\x1b[31m\xff"),
                     IDIM_ERR_FORMAT);
    assert_string_equal(err.msg, "t.tsv: bad label 'x\\x1b[31m\\xff'");
    for (size_t i = 0; err.msg[i]; i++)
        assert_true((unsigned char)err.msg[i] >= 0x20 && (unsigned char)err.msg[i] != 0x7f);
}

static void test_read_limit(void **st)
{
    (void)st;
    char dir[64], path[128];
    snprintf(dir, sizeof dir, "/tmp/idim-test-fileio.XXXXXX");
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/f.txt", dir);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    fputs("0123456789", f);
    fclose(f);
    char *buf;
    size_t n;
    struct idim_err err = {{0}};
    assert_int_equal(fileio_read_limit(path, 10, &buf, &n, &err), IDIM_OK);
    assert_int_equal(n, 10);
    assert_string_equal(buf, "0123456789");
    free(buf);
    assert_int_equal(fileio_read_limit(path, 9, &buf, &n, &err), IDIM_ERR_FORMAT);
    assert_null(buf);
    assert_non_null(strstr(err.msg, "expected at most 9"));
    /* a folder is an input error before anything is allocated */
    assert_int_equal(fileio_read_all(dir, &buf, &n, &err), IDIM_ERR_IO);
    assert_non_null(strstr(err.msg, "is a folder"));
    /* an endless stream stops at the limit (reading /dev/zero writes nothing) */
    if (access("/dev/zero", R_OK) == 0) {
        assert_int_equal(fileio_read_limit("/dev/zero", 1 << 20, &buf, &n, &err),
                         IDIM_ERR_FORMAT);
        assert_non_null(strstr(err.msg, "more than 1048576 bytes"));
    }
    uint64_t size = 0;
    assert_int_equal(fileio_check_input(path, 0, &size, &err), IDIM_OK);
    assert_int_equal(size, 10);
    assert_int_equal(fileio_check_input(dir, 0, &size, &err), IDIM_ERR_IO);
    remove(path);
    rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_escape),
        cmocka_unit_test(test_fail_escapes),
        cmocka_unit_test(test_read_limit),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
