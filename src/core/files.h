/* Private file-system helpers of src/core/files.c (the public ones are in
 * pneumo/util.h). */
#ifndef PN_CORE_FILES_H
#define PN_CORE_FILES_H

#include <stddef.h>
#include <stdint.h>

/* The folder holding path ("dir/x" and "dir/x/" -> "dir", "x" -> ".",
 * "/x" -> "/") into out; -1 when it does not fit in n bytes. */
int pn__parent_dir(const char *path, char *out, size_t n);
/* fsync the folder holding path (best effort: some file systems refuse it). */
void pn__fsync_parent(const char *path);
/* rm -rf path without following links (best effort; 0 on success; a missing
 * path is success). */
int pn__rmtree(const char *path);
/* 1 when path is a folder (links followed). */
int pn__is_dir(const char *path);
/* A size for messages: "512 B", "1.5 MiB" (binary units, one decimal). */
const char *pn__fmt_bytes(double b, char *buf, size_t n);

/* The temporary files pn_afile_open makes are named "<final>.tmp.<pid>.<n>".
 * 1 when name is one of those and its process <pid> no longer runs (left by
 * a killed run); *pid gets the pid when non-NULL. */
int pn__tmp_is_stale(const char *name, long *pid);
/* Removes the stale temporary files (above) directly inside dir; returns how
 * many were removed and adds their sizes to *bytes (may be NULL). */
size_t pn__tmp_sweep(const char *dir, uint64_t *bytes);

#endif
