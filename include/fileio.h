/* fileio.h - whole-file reads and atomic writes, shared by every stage.
 *
 * Outputs are never left half-written: fileio_write_atomic writes
 * "<path>.tmp.<pid>", flushes and fsyncs it, renames it over path, then
 * fsyncs the folder (best effort) so the rename survives a power loss. */
#ifndef IDIM_FILEIO_H
#define IDIM_FILEIO_H

#include <stddef.h>

#include "status.h"

/* Reads the whole file into a malloc'd, NUL-terminated buffer (*out, owned
 * by the caller; *n bytes, the NUL not counted). Returns IDIM_OK,
 * IDIM_ERR_IO (missing, unreadable: message names path and errno) or
 * IDIM_ERR_NOMEM. */
enum idim_status fileio_read_all(const char *path, char **out, size_t *n, struct idim_err *err);

/* Writes data[0..len) to path atomically (see above). Returns IDIM_OK or
 * IDIM_ERR_WRITE naming path and the reason (disk full, permissions). */
enum idim_status fileio_write_atomic(const char *path, const void *data, size_t len,
                                     struct idim_err *err);

#endif
