/* The group connection's WAL in one write per COMMIT. SQLite appends each
 * WAL frame with two writes (its 24-byte header, then the page), and a
 * group's COMMIT holds the writer lock while it makes them: 200 system
 * calls for a group of 100 pages, where one would do. This VFS wraps the
 * default one ("unix"); for a WAL file it keeps appended bytes in memory
 * and writes them in one call when the frame that ends a commit is
 * complete (the write's error is the COMMIT's), or earlier when anything
 * else is asked of the file, at the latest when the WAL's write lock is
 * let go. Every other file, and every lock, is the
 * wrapped VFS's own. See docs/ledger.md, "Group commit". */
#ifndef HMB_LEDGER_VFS_H
#define HMB_LEDGER_VFS_H

#include <apr_pools.h>

/* Most bytes kept before they are written anyway. */
#define HMB_VFS_MAX_PENDING (4 * 1024 * 1024)

/* The name of the VFS, registered (not as the default) on first use; NULL
 * when it could not be. */
const char *hmb_vfs_name(void);

/* Not 0 once a write of the WAL kept by the VFS failed on the connection
 * db (its native sqlite3 handle) where no COMMIT could report it: from
 * then on, what SQLite says was committed may not be in the file. 0 on a
 * connection of another VFS. */
int hmb_vfs_failed(void *db);

/* A URI that opens the database file at path (absolute) through the VFS,
 * "file://" with an empty authority, for sqlite3_open (URIs on: Debian's
 * SQLite is built with them); path as it is when the VFS is not there. */
const char *hmb_vfs_uri(apr_pool_t *p, const char *path);

#endif
