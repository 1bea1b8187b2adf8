/* What a power loss cannot take from a Redis server's AOF: loaded into the servers of a
 * nemesis run (LD_PRELOAD), it wraps fsync and fdatasync and, each time one of them
 * succeeds on a file whose name holds ".aof", appends "PATH SIZE" to the file named by
 * WALLETPOOL_FSYNC_LOG, SIZE being the file's size when the call began: every byte below
 * it is on the disk. The nemesis cuts an AOF back to no less than that (chaos/nemesis.py,
 * aof_cut), as a power loss does: what was fsynced stays, a part of the rest is lost. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static long long aof_size(int fd, char *path, size_t room) {
    char link[64];
    struct stat st;
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(link, path, room - 1);
    if (n <= 0) return -1;
    path[n] = '\0';
    if (strstr(path, ".aof") == NULL || fstat(fd, &st) != 0) return -1;
    return (long long)st.st_size;
}

static void record(const char *path, long long size) {
    const char *log = getenv("WALLETPOOL_FSYNC_LOG");
    if (log == NULL || size < 0) return;
    int out = open(log, O_WRONLY | O_APPEND | O_CREAT, 0644);
    if (out < 0) return;
    char line[4200];
    int len = snprintf(line, sizeof line, "%s %lld\n", path, size);
    if (len > 0) (void)!write(out, line, (size_t)len);
    close(out);
}

static int synced(int fd, const char *name) {
    int (*real)(int) = (int (*)(int))dlsym(RTLD_NEXT, name);
    char path[4096];
    long long size = aof_size(fd, path, sizeof path);
    int result = real(fd);
    if (result == 0) record(path, size);
    return result;
}

int fsync(int fd) { return synced(fd, "fsync"); }
int fdatasync(int fd) { return synced(fd, "fdatasync"); }
