/* The group connection's WAL in one write per COMMIT (hmb_ledger_vfs.h).
 *
 * SQLite appends a commit's frames one after the other, a commit frame
 * (its header holds the database's size in pages, never 0) last; only
 * then does it publish them in the WAL index, where readers look. The
 * bytes kept here are written when that last frame is complete, so that
 * a failed write fails the COMMIT itself. Whatever else is asked of the
 * WAL (a read, a sync, its size, a write elsewhere) first writes what is
 * kept; so does the barrier before the WAL index changes, and the release
 * of the WAL's write lock, so that nothing kept outlives the transaction
 * (a rolled-back one's pages are written while the lock is still held,
 * where the next writer overwrites them). A write that fails there cannot
 * fail the COMMIT: it is kept as the file's error, fails every later
 * write, and hmb_vfs_failed() tells the group, which then fails as on a
 * failed flush. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sqlite3.h>
#include <apr_strings.h>

#include "hmb_ledger_vfs.h"

#define HMB_VFS_NAME "hmb-wal"
#define HMB_WAL_FRAME_HDR 24
/* wal.c's WAL_WRITE_LOCK: the first of the shared-memory locks */
#define HMB_WAL_WRITE_LOCK 0
/* asks the database file for its WAL's error (hmb_vfs_failed) */
#define HMB_VFS_FCNTL_FAILED 0x484d4201

typedef struct hmb_vfs_file_t hmb_vfs_file_t;

struct hmb_vfs_file_t {
    sqlite3_file base;              /* with our methods */
    sqlite3_file *real;             /* the wrapped VFS's, after ours */
    int is_wal;
    hmb_vfs_file_t *wal;            /* a database: its WAL, while open */
    hmb_vfs_file_t *db;             /* a WAL: its database, while open */
    unsigned char *buf;             /* kept: the bytes from off on */
    sqlite3_int64 off;
    int len;
    int cap;
    int commit_next;                /* the next write ends a commit */
    int after_read;                 /* the last call was a read */
    int failed;                     /* a kept write failed: its error (a
                                     * database: its WAL's, ever) */
};

static sqlite3_vfs *vfs_real;
static sqlite3_vfs vfs_ours;
static int vfs_ok;
static pthread_once_t vfs_once = PTHREAD_ONCE_INIT;

#define REAL(f) (((hmb_vfs_file_t *)(f))->real)
#define RM(f) (REAL(f)->pMethods)

/* The unix VFS writes less than 128 KiB a call (it masks the length). */
#define HMB_VFS_CHUNK (120 * 1024)

static int vfs_flush(hmb_vfs_file_t *f)
{
    int rc = SQLITE_OK, done, n;

    if (f->failed) {
        f->len = 0;
        return f->failed;
    }
    for (done = 0; done < f->len && rc == SQLITE_OK; done += n) {
        n = f->len - done < HMB_VFS_CHUNK ? f->len - done : HMB_VFS_CHUNK;
        rc = f->real->pMethods->xWrite(f->real, f->buf + done, n,
                                       f->off + done);
    }
    f->len = 0;
    if (rc != SQLITE_OK) {
        /* SQLite may already count those bytes as written */
        f->failed = rc;
        if (f->db) {
            f->db->failed = rc;
        }
    }
    return rc;
}

static int vfs_keep(hmb_vfs_file_t *f, const void *data, int n,
                    sqlite3_int64 at)
{
    if (!f->len) {
        f->off = at;
    }
    if (f->len + n > f->cap) {
        int cap = f->cap ? f->cap : 64 * 1024;
        unsigned char *b;

        while (cap < f->len + n) {
            cap *= 2;
        }
        if (!(b = realloc(f->buf, (size_t)cap))) {
            return SQLITE_NOMEM;
        }
        f->buf = b;
        f->cap = cap;
    }
    memcpy(f->buf + f->len, data, (size_t)n);
    f->len += n;
    return SQLITE_OK;
}

static int vfs_close(sqlite3_file *file)
{
    hmb_vfs_file_t *f = (hmb_vfs_file_t *)file;
    int rc = vfs_flush(f), rc2;

    if (f->db) {
        f->db->wal = NULL;
    }
    if (f->wal) {
        f->wal->db = NULL;
    }
    free(f->buf);
    f->buf = NULL;
    rc2 = RM(file)->xClose(REAL(file));
    return rc != SQLITE_OK ? rc : rc2;
}

static int vfs_read(sqlite3_file *file, void *data, int n,
                    sqlite3_int64 at)
{
    int rc = vfs_flush((hmb_vfs_file_t *)file);

    ((hmb_vfs_file_t *)file)->after_read = 1;
    return rc != SQLITE_OK ? rc : RM(file)->xRead(REAL(file), data, n, at);
}

static int vfs_write(sqlite3_file *file, const void *data, int n,
                     sqlite3_int64 at)
{
    hmb_vfs_file_t *f = (hmb_vfs_file_t *)file;
    const unsigned char *d = data;
    int rc, ends, commit_hdr, after_read = f->after_read, cont, starts;

    if (!f->is_wal) {
        return RM(file)->xWrite(REAL(file), data, n, at);
    }
    if (f->failed) {
        return f->failed;
    }
    f->after_read = 0;
    /* this write is the page of a commit frame kept; it is a commit
     * frame's header, whose page comes next */
    ends = f->commit_next;
    commit_hdr = n == HMB_WAL_FRAME_HDR && (d[4] | d[5] | d[6] | d[7]);
    f->commit_next = 0;
    /* kept: what continues the frames kept, within bounds, or a frame's
     * header (or the WAL's, which starts it over) that no read came
     * before, which starts a new run of them. SQLite rewrites a frame's
     * header in place (its checksums) right after reading the frame: such
     * a write, as any other, goes to the file at once, its error the
     * COMMIT's, after what was kept */
    cont = f->len && at == f->off + f->len
           && f->len + n <= HMB_VFS_MAX_PENDING;
    starts = !after_read && (n == HMB_WAL_FRAME_HDR || (n == 32 && at == 0));
    if (f->len && !cont && (rc = vfs_flush(f)) != SQLITE_OK) {
        return rc;
    }
    if (!(cont || starts) || vfs_keep(f, data, n, at) != SQLITE_OK) {
        /* (or no memory to keep it in) */
        if ((rc = vfs_flush(f)) != SQLITE_OK) {
            return rc;
        }
        return RM(file)->xWrite(REAL(file), data, n, at);
    }
    if (ends) {
        return vfs_flush(f);
    }
    f->commit_next = commit_hdr;
    return SQLITE_OK;
}

static int vfs_truncate(sqlite3_file *file, sqlite3_int64 size)
{
    int rc = vfs_flush((hmb_vfs_file_t *)file);

    return rc != SQLITE_OK ? rc : RM(file)->xTruncate(REAL(file), size);
}

static int vfs_sync(sqlite3_file *file, int flags)
{
    int rc = vfs_flush((hmb_vfs_file_t *)file);

    return rc != SQLITE_OK ? rc : RM(file)->xSync(REAL(file), flags);
}

static int vfs_file_size(sqlite3_file *file, sqlite3_int64 *size)
{
    int rc = vfs_flush((hmb_vfs_file_t *)file);

    return rc != SQLITE_OK ? rc : RM(file)->xFileSize(REAL(file), size);
}

static int vfs_lock(sqlite3_file *file, int lock)
{
    return RM(file)->xLock(REAL(file), lock);
}

static int vfs_unlock(sqlite3_file *file, int lock)
{
    return RM(file)->xUnlock(REAL(file), lock);
}

static int vfs_reserved(sqlite3_file *file, int *out)
{
    return RM(file)->xCheckReservedLock(REAL(file), out);
}

static int vfs_control(sqlite3_file *file, int op, void *arg)
{
    hmb_vfs_file_t *f = (hmb_vfs_file_t *)file;
    int rc;

    if (op == HMB_VFS_FCNTL_FAILED) {
        *(int *)arg = f->failed ? f->failed : f->wal ? f->wal->failed : 0;
        return SQLITE_OK;
    }
    if ((rc = vfs_flush(f)) != SQLITE_OK) {
        return rc;
    }
    return RM(file)->xFileControl(REAL(file), op, arg);
}

static int vfs_sector_size(sqlite3_file *file)
{
    return RM(file)->xSectorSize(REAL(file));
}

static int vfs_device(sqlite3_file *file)
{
    return RM(file)->xDeviceCharacteristics(REAL(file));
}

static int vfs_shm_map(sqlite3_file *file, int pg, int pgsz, int extend,
                       void volatile **pp)
{
    return RM(file)->xShmMap(REAL(file), pg, pgsz, extend, pp);
}

static int vfs_shm_lock(sqlite3_file *file, int offset, int n, int flags)
{
    hmb_vfs_file_t *f = (hmb_vfs_file_t *)file;

    /* the WAL's write lock let go: nothing kept may be written after */
    if (f->wal && offset == HMB_WAL_WRITE_LOCK
        && (flags & SQLITE_SHM_UNLOCK)) {
        vfs_flush(f->wal);
    }
    return RM(file)->xShmLock(REAL(file), offset, n, flags);
}

/* Before the WAL index changes: a frame it will name is in the file
 * (nothing is kept here by then but in the rarest of cases, such as a
 * commit frame's header written again in place; see vfs_flush for its
 * error). */
static void vfs_shm_barrier(sqlite3_file *file)
{
    hmb_vfs_file_t *f = (hmb_vfs_file_t *)file;

    if (f->wal) {
        vfs_flush(f->wal);
    }
    RM(file)->xShmBarrier(REAL(file));
}

static int vfs_shm_unmap(sqlite3_file *file, int delete_flag)
{
    return RM(file)->xShmUnmap(REAL(file), delete_flag);
}

static int vfs_fetch(sqlite3_file *file, sqlite3_int64 at, int n, void **pp)
{
    int rc = vfs_flush((hmb_vfs_file_t *)file);

    return rc != SQLITE_OK ? rc : RM(file)->xFetch(REAL(file), at, n, pp);
}

static int vfs_unfetch(sqlite3_file *file, sqlite3_int64 at, void *p)
{
    return RM(file)->xUnfetch(REAL(file), at, p);
}

static const sqlite3_io_methods vfs_methods = {
    3,
    vfs_close,
    vfs_read,
    vfs_write,
    vfs_truncate,
    vfs_sync,
    vfs_file_size,
    vfs_lock,
    vfs_unlock,
    vfs_reserved,
    vfs_control,
    vfs_sector_size,
    vfs_device,
    vfs_shm_map,
    vfs_shm_lock,
    vfs_shm_barrier,
    vfs_shm_unmap,
    vfs_fetch,
    vfs_unfetch
};

#define VFS_OURS_SIZE ((sizeof(hmb_vfs_file_t) + 7) & ~(size_t)7)

static int vfs_open(sqlite3_vfs *vfs, const char *name, sqlite3_file *file,
                    int flags, int *out_flags)
{
    hmb_vfs_file_t *f = (hmb_vfs_file_t *)file;
    int rc;

    memset(f, 0, sizeof(*f));
    f->real = (sqlite3_file *)((char *)file + VFS_OURS_SIZE);
    rc = vfs_real->xOpen(vfs_real, name, f->real, flags, out_flags);
    /* SQLite closes what was opened even when xOpen failed */
    f->base.pMethods = f->real->pMethods ? &vfs_methods : NULL;
    if (rc != SQLITE_OK || !f->real->pMethods) {
        return rc;
    }
    if ((flags & SQLITE_OPEN_WAL) && name) {
        sqlite3_file *db = sqlite3_database_file_object(name);

        f->is_wal = 1;
        /* the barrier before the WAL index changes is the database's */
        if (db && db->pMethods == &vfs_methods) {
            f->db = (hmb_vfs_file_t *)db;
            f->db->wal = f;
        }
    }
    return SQLITE_OK;
}

static int vfs_delete(sqlite3_vfs *vfs, const char *name, int sync_dir)
{
    return vfs_real->xDelete(vfs_real, name, sync_dir);
}

static int vfs_access(sqlite3_vfs *vfs, const char *name, int flags,
                      int *out)
{
    return vfs_real->xAccess(vfs_real, name, flags, out);
}

static int vfs_full_pathname(sqlite3_vfs *vfs, const char *name, int n,
                             char *out)
{
    return vfs_real->xFullPathname(vfs_real, name, n, out);
}

static void *vfs_dl_open(sqlite3_vfs *vfs, const char *name)
{
    return vfs_real->xDlOpen(vfs_real, name);
}

static void vfs_dl_error(sqlite3_vfs *vfs, int n, char *msg)
{
    vfs_real->xDlError(vfs_real, n, msg);
}

static void (*vfs_dl_sym(sqlite3_vfs *vfs, void *h, const char *sym))(void)
{
    return vfs_real->xDlSym(vfs_real, h, sym);
}

static void vfs_dl_close(sqlite3_vfs *vfs, void *h)
{
    vfs_real->xDlClose(vfs_real, h);
}

static int vfs_randomness(sqlite3_vfs *vfs, int n, char *out)
{
    return vfs_real->xRandomness(vfs_real, n, out);
}

static int vfs_sleep(sqlite3_vfs *vfs, int us)
{
    return vfs_real->xSleep(vfs_real, us);
}

static int vfs_current_time(sqlite3_vfs *vfs, double *t)
{
    return vfs_real->xCurrentTime(vfs_real, t);
}

static int vfs_last_error(sqlite3_vfs *vfs, int n, char *msg)
{
    return vfs_real->xGetLastError(vfs_real, n, msg);
}

static int vfs_current_time64(sqlite3_vfs *vfs, sqlite3_int64 *t)
{
    return vfs_real->xCurrentTimeInt64(vfs_real, t);
}

static void vfs_register(void)
{
    sqlite3_vfs *r;

    /* the default, as every other connection of the process opens */
    if (sqlite3_initialize() != SQLITE_OK || !(r = sqlite3_vfs_find(NULL))
        || r->iVersion < 2 || !r->xCurrentTimeInt64) {
        return;
    }
    vfs_real = r;
    vfs_ours.iVersion = 2;
    vfs_ours.szOsFile = (int)VFS_OURS_SIZE + r->szOsFile;
    vfs_ours.mxPathname = r->mxPathname;
    vfs_ours.zName = HMB_VFS_NAME;
    vfs_ours.xOpen = vfs_open;
    vfs_ours.xDelete = vfs_delete;
    vfs_ours.xAccess = vfs_access;
    vfs_ours.xFullPathname = vfs_full_pathname;
    vfs_ours.xDlOpen = vfs_dl_open;
    vfs_ours.xDlError = vfs_dl_error;
    vfs_ours.xDlSym = vfs_dl_sym;
    vfs_ours.xDlClose = vfs_dl_close;
    vfs_ours.xRandomness = vfs_randomness;
    vfs_ours.xSleep = vfs_sleep;
    vfs_ours.xCurrentTime = vfs_current_time;
    vfs_ours.xGetLastError = vfs_last_error;
    vfs_ours.xCurrentTimeInt64 = vfs_current_time64;
    vfs_ok = sqlite3_vfs_register(&vfs_ours, 0) == SQLITE_OK;
}

const char *hmb_vfs_name(void)
{
    pthread_once(&vfs_once, vfs_register);
    return vfs_ok ? HMB_VFS_NAME : NULL;
}

const char *hmb_vfs_uri(apr_pool_t *p, const char *path)
{
    static const char hex[] = "0123456789ABCDEF";
    const char *name = hmb_vfs_name();
    char *uri, *o;

    if (!name || !path || *path != '/') {
        return path;
    }
    /* every byte that is not plainly part of a path, %-escaped */
    o = uri = apr_palloc(p, strlen(path) * 3 + sizeof("file://?vfs=")
                         + strlen(name));
    /* an empty authority: a path may begin with "//" */
    o = stpcpy(o, "file://");
    for (; *path; path++) {
        unsigned char c = (unsigned char)*path;

        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
            || (c >= '0' && c <= '9') || strchr("/._-~", c)) {
            *o++ = (char)c;
        }
        else {
            *o++ = '%';
            *o++ = hex[c >> 4];
            *o++ = hex[c & 15];
        }
    }
    stpcpy(stpcpy(o, "?vfs="), name);
    return uri;
}

int hmb_vfs_failed(void *db)
{
    int failed = 0;

    if (!db || sqlite3_file_control(db, "main", HMB_VFS_FCNTL_FAILED,
                                    &failed) != SQLITE_OK) {
        return 0;
    }
    return failed;
}
