/* The writer lock of an SQLite ledger (hmb_writer.h).
 *
 * SQLite lets one writer in at a time and tells the others SQLITE_BUSY;
 * apr_dbd's sqlite3 driver then sleeps 100 ms and tries again, so under
 * load a settlement's latency is decided by those sleeps, not by the
 * work. Here writers queue on a mutex instead and are woken the moment
 * the previous one commits. The mutex lives in a file mapped by every
 * process, so httpd's children and hmbctl queue on the same one; it is
 * robust, so a process that dies holding it frees it (SQLite rolls its
 * transaction back from the WAL on its own). */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <apr_strings.h>

#include "hmb_writer.h"

#define HMB_WRITER_MAGIC 0x484d4257u    /* "HMBW" */

typedef struct {
    unsigned int magic;             /* set once the mutex is initialised */
    pthread_mutex_t mutex;
} hmb_writer_shm_t;

struct hmb_writer_t {
    char *path;                     /* the ledger's */
    hmb_writer_shm_t *shm;
    hmb_writer_t *next;
};

/* One per ledger and process, never freed: a process has few ledgers. */
static pthread_mutex_t hmb_writers_mutex = PTHREAD_MUTEX_INITIALIZER;
static hmb_writer_t *hmb_writers;

const char *hmb_writer_path(apr_pool_t *p, const char *path)
{
    return apr_pstrcat(p, path, "-hmblock", NULL);
}

/* Initialise the shared mutex once, whoever maps the file first; the
 * file lock keeps two first comers apart. */
static int writer_init(int fd, hmb_writer_shm_t *shm)
{
    pthread_mutexattr_t a;
    int rv = 0;

    if (flock(fd, LOCK_EX) != 0) {
        return errno;
    }
    if (shm->magic != HMB_WRITER_MAGIC) {
        if ((rv = pthread_mutexattr_init(&a)) == 0) {
            if (!(rv = pthread_mutexattr_setpshared(&a,
                                                    PTHREAD_PROCESS_SHARED))
                && !(rv = pthread_mutexattr_setrobust(&a,
                                                      PTHREAD_MUTEX_ROBUST))
                && !(rv = pthread_mutex_init(&shm->mutex, &a))) {
                __atomic_store_n(&shm->magic, HMB_WRITER_MAGIC,
                                 __ATOMIC_RELEASE);
            }
            pthread_mutexattr_destroy(&a);
        }
    }
    flock(fd, LOCK_UN);
    return rv;
}

/* Map the lock file, making it when missing with the ledger's owner and
 * group, readable and writable by them only. */
static const char *writer_map(apr_pool_t *p, const char *path,
                              hmb_writer_shm_t **shm)
{
    const char *lpath = hmb_writer_path(p, path);
    struct stat ledger, st;
    void *m;
    int fd, rv;

    fd = open(lpath, O_RDWR | O_CREAT | O_CLOEXEC, 0660);
    if (fd < 0) {
        return apr_psprintf(p, "%s: %s", lpath, strerror(errno));
    }
    if (fstat(fd, &st) == 0 && st.st_size == 0
        && stat(path, &ledger) == 0) {
        if (geteuid() == 0 && (st.st_uid != ledger.st_uid
                               || st.st_gid != ledger.st_gid)
            && fchown(fd, ledger.st_uid, ledger.st_gid) != 0) {
            /* then only root writes it: the others go without */
        }
        if (fchmod(fd, (ledger.st_mode & 0660) | 0600) != 0) {
            /* the mode open() gave stays */
        }
    }
    /* a file of zeros is an uninitialised mutex: extend, never shrink */
    if (fstat(fd, &st) != 0
        || (st.st_size < (off_t)sizeof(hmb_writer_shm_t)
            && ftruncate(fd, sizeof(hmb_writer_shm_t)) != 0)) {
        rv = errno;
        close(fd);
        return apr_psprintf(p, "%s: %s", lpath, strerror(rv));
    }
    m = mmap(NULL, sizeof(hmb_writer_shm_t), PROT_READ | PROT_WRITE,
             MAP_SHARED, fd, 0);
    if (m == MAP_FAILED) {
        rv = errno;
        close(fd);
        return apr_psprintf(p, "%s: mmap: %s", lpath, strerror(rv));
    }
    rv = writer_init(fd, m);
    close(fd);
    if (rv) {
        munmap(m, sizeof(hmb_writer_shm_t));
        return apr_psprintf(p, "%s: %s", lpath, strerror(rv));
    }
    *shm = m;
    return NULL;
}

const char *hmb_writer_get(apr_pool_t *p, const char *path, hmb_writer_t **w)
{
    const char *err = NULL;
    hmb_writer_t *x;

    pthread_mutex_lock(&hmb_writers_mutex);
    for (x = hmb_writers; x && strcmp(x->path, path); x = x->next) {
    }
    if (!x) {
        hmb_writer_shm_t *shm = NULL;

        if (!(err = writer_map(p, path, &shm))) {
            x = calloc(1, sizeof(*x));
            if (x) {
                x->path = strdup(path);
            }
            if (!x || !x->path) {
                free(x);
                x = NULL;
                munmap(shm, sizeof(*shm));
                err = "out of memory";
            }
            else {
                x->shm = shm;
                x->next = hmb_writers;
                hmb_writers = x;
            }
        }
    }
    pthread_mutex_unlock(&hmb_writers_mutex);
    *w = x;
    return err;
}

apr_status_t hmb_writer_lock(hmb_writer_t *w, apr_interval_time_t timeout)
{
    struct timespec until;
    apr_time_t t = apr_time_now() + timeout;
    int rv;

    until.tv_sec = apr_time_sec(t);
    until.tv_nsec = apr_time_usec(t) * 1000;
    rv = pthread_mutex_timedlock(&w->shm->mutex, &until);
    if (rv == EOWNERDEAD) {
        /* its holder died; what it wrote was never committed */
        pthread_mutex_consistent(&w->shm->mutex);
        rv = 0;
    }
    return rv == ETIMEDOUT ? APR_TIMEUP : rv;
}

void hmb_writer_unlock(hmb_writer_t *w)
{
    pthread_mutex_unlock(&w->shm->mutex);
}
