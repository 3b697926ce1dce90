/* The spool: what the module writes when the ledger is away must come
 * back byte for byte, oldest first, and leave the pending set once done. */
#include "hmb_test.h"
#include <apr_file_info.h>
#include <apr_tables.h>

#include "hmb_spool.h"

/* Regular files in dir whose name starts with prefix. */
static int count_files(apr_pool_t *p, const char *dir, const char *prefix)
{
    apr_dir_t *d;
    apr_finfo_t fi;
    int n = 0;

    assert_int_equal(apr_dir_open(&d, dir, p), APR_SUCCESS);
    while (apr_dir_read(&fi, APR_FINFO_NAME | APR_FINFO_TYPE, d)
           == APR_SUCCESS) {
        if (fi.filetype == APR_REG
            && strncmp(fi.name, prefix, strlen(prefix)) == 0) {
            n++;
        }
    }
    apr_dir_close(d);
    return n;
}

static void put_file(apr_pool_t *p, const char *path, const char *bytes,
                     apr_size_t len)
{
    apr_file_t *f;

    assert_int_equal(apr_file_open(&f, path, APR_FOPEN_CREATE
                                   | APR_FOPEN_WRITE | APR_FOPEN_TRUNCATE
                                   | APR_FOPEN_BINARY, APR_FPROT_OS_DEFAULT,
                                   p), APR_SUCCESS);
    if (len) {
        assert_int_equal(apr_file_write_full(f, bytes, len, NULL),
                         APR_SUCCESS);
    }
    apr_file_close(f);
}

static void test_write_list_read_done(void **state)
{
    apr_pool_t *p = *state;
    const char *dir = hmb_test_tmpdir(p, "spool");
    const char *first, *second, *req, *resp, *err;
    apr_size_t req_len, resp_len;
    apr_array_header_t *paths;

    assert_null(hmb_spool_write(p, dir, "<request>1</request>", 20,
                                "<response>1</response>", 22,
                                NULL, NULL, &first));
    assert_null(hmb_spool_write(p, dir, "<request>2</request>", 20,
                                "<response>2</response>", 22,
                                NULL, NULL, &second));
    assert_string_not_equal(first, second);
    assert_int_equal(strncmp(first, dir, strlen(dir)), 0);
    /* Nothing temporary is left behind. */
    assert_int_equal(count_files(p, dir, "tmp-"), 0);

    assert_null(hmb_spool_list(p, dir, &paths));
    assert_int_equal(paths->nelts, 2);
    assert_string_equal(APR_ARRAY_IDX(paths, 0, const char *), first);
    assert_string_equal(APR_ARRAY_IDX(paths, 1, const char *), second);

    assert_null(hmb_spool_read(p, first, &req, &req_len, &resp, &resp_len,
                               NULL, NULL));
    assert_int_equal(req_len, 20);
    assert_memory_equal(req, "<request>1</request>", 20);
    assert_int_equal(resp_len, 22);
    assert_memory_equal(resp, "<response>1</response>", 22);

    assert_null(hmb_spool_done(p, first));
    assert_null(hmb_spool_list(p, dir, &paths));
    assert_int_equal(paths->nelts, 1);
    assert_string_equal(APR_ARRAY_IDX(paths, 0, const char *), second);
    assert_int_equal(count_files(p, apr_pstrcat(p, dir, "/done", NULL), ""),
                     1);

    /* A second done of the same entry has nothing to move. */
    err = hmb_spool_done(p, first);
    assert_non_null(err);

    /* done/ exists now: the next one goes there too. */
    assert_null(hmb_spool_done(p, second));
    assert_null(hmb_spool_list(p, dir, &paths));
    assert_int_equal(paths->nelts, 0);
    assert_int_equal(count_files(p, apr_pstrcat(p, dir, "/done", NULL), ""),
                     2);
}

/* The exact layout: hmbctl and operators read these files. */
static void test_file_layout(void **state)
{
    apr_pool_t *p = *state;
    const char *dir = hmb_test_tmpdir(p, "spool");
    const char *path;
    const char *expect = "HMBSPOOL 1 3 4 - -\nabcWXYZ";
    char *raw;
    apr_size_t len;
    apr_finfo_t fi;

    assert_null(hmb_spool_write(p, dir, "abc", 3, "WXYZ", 4,
                                NULL, NULL, &path));
    raw = hmb_test_slurp(p, path, &len);
    assert_int_equal(len, strlen(expect));
    assert_memory_equal(raw, expect, len);
    /* Personal data: no access for others. */
    assert_int_equal(apr_stat(&fi, path, APR_FINFO_PROT, p), APR_SUCCESS);
    assert_int_equal(fi.protection & (APR_FPROT_WREAD | APR_FPROT_WWRITE
                                      | APR_FPROT_WEXECUTE), 0);
    assert_true(path[strlen(path) - 6] == '.');
    assert_string_equal(path + strlen(path) - 6, ".spool");
}

static void test_empty_request(void **state)
{
    apr_pool_t *p = *state;
    const char *dir = hmb_test_tmpdir(p, "spool");
    const char *path, *req = "x", *resp;
    apr_size_t req_len = 99, resp_len;

    assert_null(hmb_spool_write(p, dir, NULL, 0, "<response/>", 11,
                                NULL, NULL, &path));
    assert_null(hmb_spool_read(p, path, &req, &req_len, &resp, &resp_len,
                               NULL, NULL));
    assert_null(req);
    assert_int_equal(req_len, 0);
    assert_int_equal(resp_len, 11);
    assert_memory_equal(resp, "<response/>", 11);

    /* A non-NULL pointer with length 0 is no request either. */
    assert_null(hmb_spool_write(p, dir, "ignored", 0, "<r/>", 4,
                                NULL, NULL, &path));
    assert_null(hmb_spool_read(p, path, &req, &req_len, &resp, &resp_len,
                               NULL, NULL));
    assert_null(req);
    assert_int_equal(resp_len, 4);

    /* A response is what makes an entry. */
    assert_non_null(hmb_spool_write(p, dir, "<q/>", 4, NULL, 0,
                                    NULL, NULL, &path));
}

static void test_binary_bytes(void **state)
{
    apr_pool_t *p = *state;
    const char *dir = hmb_test_tmpdir(p, "spool");
    /* NULs, high bytes (GBK), newlines and a fake header inside. */
    static const char req_bytes[] = "\0\xff\n\xd5\xc5\xc8\xfd\r\n\0";
    static const char resp_bytes[] = "HMBSPOOL 1 5 5\n\0\0\x80<output/>\n";
    const apr_size_t rq = sizeof(req_bytes) - 1;
    const apr_size_t rs = sizeof(resp_bytes) - 1;
    const char *path, *req, *resp;
    apr_size_t req_len, resp_len;

    assert_null(hmb_spool_write(p, dir, req_bytes, rq, resp_bytes, rs,
                                NULL, NULL,
                                &path));
    assert_null(hmb_spool_read(p, path, &req, &req_len, &resp, &resp_len,
                               NULL, NULL));
    assert_int_equal(req_len, 10);
    assert_memory_equal(req, req_bytes, 10);
    assert_int_equal(resp_len, 28);
    assert_memory_equal(resp, resp_bytes, 28);
}

/* Order by the numbers in the name, not by its spelling; anything else in
 * the directory is not an entry. */
static void test_list_order_and_filter(void **state)
{
    apr_pool_t *p = *state;
    const char *dir = hmb_test_tmpdir(p, "spool");
    apr_array_header_t *paths;
    static const char *names[] = {
        "10-5-1.spool", "9-7-3.spool", "10-5-0.spool", "10-40-0.spool",
        "10-6-0.spool"
    };
    static const char *expect[] = {
        "9-7-3.spool", "10-5-0.spool", "10-5-1.spool", "10-6-0.spool",
        "10-40-0.spool"
    };
    int i;

    for (i = 0; i < 5; i++) {
        put_file(p, apr_pstrcat(p, dir, "/", names[i], NULL), "x", 1);
    }
    put_file(p, apr_pstrcat(p, dir, "/tmp-abcdef", NULL), "x", 1);
    put_file(p, apr_pstrcat(p, dir, "/notes.txt", NULL), "x", 1);
    put_file(p, apr_pstrcat(p, dir, "/1-2-3.spool.bak", NULL), "x", 1);
    put_file(p, apr_pstrcat(p, dir, "/1-2.spool", NULL), "x", 1);
    put_file(p, apr_pstrcat(p, dir, "/a-2-3.spool", NULL), "x", 1);
    assert_int_equal(apr_dir_make(apr_pstrcat(p, dir, "/1-1-1.spool", NULL),
                                  APR_FPROT_OS_DEFAULT, p), APR_SUCCESS);

    assert_null(hmb_spool_list(p, dir, &paths));
    assert_int_equal(paths->nelts, 5);
    for (i = 0; i < 5; i++) {
        assert_string_equal(APR_ARRAY_IDX(paths, i, const char *),
                            apr_pstrcat(p, dir, "/", expect[i], NULL));
    }
}

static void test_read_rejects_damage(void **state)
{
    apr_pool_t *p = *state;
    const char *dir = hmb_test_tmpdir(p, "spool");
    const char *path, *req, *resp, *err;
    apr_size_t req_len, resp_len;

    path = apr_pstrcat(p, dir, "/1-1-1.spool", NULL);
    put_file(p, path, "HMBSPOOL 1 3 4\nabcWXY", 21);     /* one short */
    err = hmb_spool_read(p, path, &req, &req_len, &resp, &resp_len,
                         NULL, NULL);
    assert_non_null(err);
    assert_non_null(strstr(err, "truncated"));

    put_file(p, path, "HMBSPOOL 1 3 4\nabcWXYZ!", 23);   /* one extra */
    assert_non_null(hmb_spool_read(p, path, &req, &req_len, &resp,
                                   &resp_len, NULL, NULL));

    put_file(p, path, "<response/>", 11);
    err = hmb_spool_read(p, path, &req, &req_len, &resp, &resp_len,
                         NULL, NULL);
    assert_non_null(err);
    assert_non_null(strstr(err, "not a spool entry"));

    put_file(p, path, "HMBSPOOL 1 x 4\nabcWXYZ", 22);
    assert_non_null(hmb_spool_read(p, path, &req, &req_len, &resp,
                                   &resp_len, NULL, NULL));

    put_file(p, path, "", 0);
    assert_non_null(hmb_spool_read(p, path, &req, &req_len, &resp,
                                   &resp_len, NULL, NULL));

    assert_non_null(hmb_spool_read(p, apr_pstrcat(p, dir, "/absent", NULL),
                                   &req, &req_len, &resp, &resp_len,
                                   NULL, NULL));
}

/* A JSON message's charsets (its Content-Type's) are kept with it, so
 * that a replay reads a GBK message as GBK; entries written before they
 * were kept read as before, without. */
static void test_charsets_kept(void **state)
{
    apr_pool_t *p = *state;
    const char *dir = hmb_test_tmpdir(p, "spool");
    const char *path, *req, *resp, *rcs = "?", *scs = "?";
    apr_size_t req_len, resp_len;

    assert_null(hmb_spool_write(p, dir, "{}", 2, "{\"a\":1}", 7, "GBK",
                                "gb18030", &path));
    assert_null(hmb_spool_read(p, path, &req, &req_len, &resp, &resp_len,
                               &rcs, &scs));
    assert_string_equal(rcs, "GBK");
    assert_string_equal(scs, "gb18030");
    assert_int_equal(resp_len, 7);
    assert_memory_equal(resp, "{\"a\":1}", 7);

    /* none, or nothing a header may hold: none */
    assert_null(hmb_spool_write(p, dir, "{}", 2, "{}", 2, NULL,
                                "GBK\n1 2", &path));
    assert_null(hmb_spool_read(p, path, &req, &req_len, &resp, &resp_len,
                               &rcs, &scs));
    assert_null(rcs);
    assert_null(scs);

    /* an entry of an older build */
    path = apr_pstrcat(p, dir, "/1-1-1.spool", NULL);
    put_file(p, path, "HMBSPOOL 1 3 4\nabcWXYZ", 22);
    rcs = scs = "?";
    assert_null(hmb_spool_read(p, path, &req, &req_len, &resp, &resp_len,
                               &rcs, &scs));
    assert_null(rcs);
    assert_null(scs);
    assert_memory_equal(resp, "WXYZ", 4);

    /* a damaged one is refused */
    put_file(p, path, "HMBSPOOL 1 3 4 GBK\nabcWXYZ", 26);
    assert_non_null(hmb_spool_read(p, path, &req, &req_len, &resp,
                                   &resp_len, &rcs, &scs));
    put_file(p, path, "HMBSPOOL 1 3 4 G/K -\nabcWXYZ", 28);
    assert_non_null(hmb_spool_read(p, path, &req, &req_len, &resp,
                                   &resp_len, &rcs, &scs));
}

/* Tests may run as root, for whom permission bits mean nothing: use a
 * directory that is not there and one that is a regular file. */
static void test_unwritable_dir(void **state)
{
    apr_pool_t *p = *state;
    const char *dir = hmb_test_tmpdir(p, "spool");
    const char *missing = apr_pstrcat(p, dir, "/missing", NULL);
    const char *file = apr_pstrcat(p, dir, "/plain", NULL);
    const char *path = NULL, *err;
    apr_array_header_t *paths;

    err = hmb_spool_write(p, missing, "q", 1, "r", 1, NULL, NULL, &path);
    assert_non_null(err);
    assert_non_null(strstr(err, missing));
    assert_null(path);

    put_file(p, file, "x", 1);
    err = hmb_spool_write(p, file, "q", 1, "r", 1, NULL, NULL, &path);
    assert_non_null(err);
    assert_null(path);

    assert_non_null(hmb_spool_list(p, missing, &paths));
    assert_non_null(hmb_spool_done(p, apr_pstrcat(p, missing, "/1-1-1.spool",
                                                  NULL)));
}

/* Replayed entries (in done/) are deleted once older than the limit;
 * pending entries, and whatever else an operator keeps in done/, never.
 * The age is the time of the move to done/ (its ctime), which a test
 * cannot set back: the limit here is a fraction of a second. */
static void test_prune(void **state)
{
    apr_pool_t *p = *state;
    const char *dir = hmb_test_tmpdir(p, "spool");
    const char *done = apr_pstrcat(p, dir, "/done", NULL);
    const char *old, *recent, *pending;
    apr_array_header_t *paths;
    apr_finfo_t fi;
    int removed = -1;

    /* nothing replayed yet: no done/, nothing to do */
    assert_null(hmb_spool_prune(p, dir, 0, &removed));
    assert_int_equal(removed, 0);

    assert_null(hmb_spool_write(p, dir, "q", 1, "old", 3, NULL, NULL, &old));
    assert_null(hmb_spool_write(p, dir, "q", 1, "pending", 7,
                                NULL, NULL, &pending));
    assert_null(hmb_spool_done(p, old));
    put_file(p, apr_pstrcat(p, done, "/notes.txt", NULL), "x", 1);
    assert_int_equal(apr_dir_make(apr_pstrcat(p, done, "/kept.spool", NULL),
                                  APR_FPROT_OS_DEFAULT, p), APR_SUCCESS);
    /* done/ holds personal data as the spool does: 0750 at most */
    assert_int_equal(apr_stat(&fi, done, APR_FINFO_PROT, p), APR_SUCCESS);
    assert_int_equal(fi.protection & (APR_FPROT_GWRITE | APR_FPROT_WREAD
                                      | APR_FPROT_WWRITE
                                      | APR_FPROT_WEXECUTE), 0);

    apr_sleep(apr_time_from_msec(700));
    assert_null(hmb_spool_write(p, dir, "q", 1, "recent", 6,
                                NULL, NULL, &recent));
    assert_null(hmb_spool_done(p, recent));

    /* a day: everything is younger */
    assert_null(hmb_spool_prune(p, dir, apr_time_from_sec(86400), &removed));
    assert_int_equal(removed, 0);
    assert_int_equal(count_files(p, done, ""), 3);

    assert_null(hmb_spool_prune(p, dir, apr_time_from_msec(400), &removed));
    assert_int_equal(removed, 1);
    assert_true(APR_STATUS_IS_ENOENT(apr_stat(&fi, apr_pstrcat(p, done,
                                              strrchr(old, '/'), NULL),
                                              APR_FINFO_TYPE, p)));
    assert_int_equal(apr_stat(&fi, apr_pstrcat(p, done, strrchr(recent, '/'),
                                               NULL), APR_FINFO_TYPE, p),
                     APR_SUCCESS);
    assert_int_equal(apr_stat(&fi, apr_pstrcat(p, done, "/notes.txt", NULL),
                              APR_FINFO_TYPE, p), APR_SUCCESS);
    assert_int_equal(apr_stat(&fi, apr_pstrcat(p, done, "/kept.spool", NULL),
                              APR_FINFO_TYPE, p), APR_SUCCESS);
    /* the pending entry is older than the limit, and stays */
    assert_null(hmb_spool_list(p, dir, &paths));
    assert_int_equal(paths->nelts, 1);
    assert_string_equal(APR_ARRAY_IDX(paths, 0, const char *), pending);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_write_list_read_done,
                                        hmb_test_pool_setup,
                                        hmb_test_pool_teardown),
        cmocka_unit_test_setup_teardown(test_file_layout,
                                        hmb_test_pool_setup,
                                        hmb_test_pool_teardown),
        cmocka_unit_test_setup_teardown(test_empty_request,
                                        hmb_test_pool_setup,
                                        hmb_test_pool_teardown),
        cmocka_unit_test_setup_teardown(test_binary_bytes,
                                        hmb_test_pool_setup,
                                        hmb_test_pool_teardown),
        cmocka_unit_test_setup_teardown(test_list_order_and_filter,
                                        hmb_test_pool_setup,
                                        hmb_test_pool_teardown),
        cmocka_unit_test_setup_teardown(test_read_rejects_damage,
                                        hmb_test_pool_setup,
                                        hmb_test_pool_teardown),
        cmocka_unit_test_setup_teardown(test_charsets_kept,
                                        hmb_test_pool_setup,
                                        hmb_test_pool_teardown),
        cmocka_unit_test_setup_teardown(test_unwritable_dir,
                                        hmb_test_pool_setup,
                                        hmb_test_pool_teardown),
        cmocka_unit_test_setup_teardown(test_prune,
                                        hmb_test_pool_setup,
                                        hmb_test_pool_teardown),
    };
    int rc;

    apr_initialize();
    rc = cmocka_run_group_tests_name("spool", tests, NULL, NULL);
    apr_terminate();
    return rc;
}
