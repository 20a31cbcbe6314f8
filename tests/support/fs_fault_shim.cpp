// LD_PRELOAD shim for disk-fault tests: while the file named by BENTO_TEST_FS_FAULT_FLAG exists (with
// BENTO_TEST_FS_FAULT_PER_NODE=1: that name followed by the node's BENTO_NODE_ID, so that one member of a
// cluster can be failed), every write to a file under BENTO_TEST_FS_FAULT_PREFIX (default: BENTO_DATA_DIR)
// (data, sync, create, rename, remove, allocate) fails with the errno written in that file ("ENOSPC": a full
// disk, "EROFS": a file system remounted read-only after an error).
// Reads are untouched. Deterministic where a real full disk is not (RocksDB preallocates its WAL, so a filled
// disk fails a write only many megabytes later) and needs no mount (a read-only remount is refused while files
// are open for writing, as RocksDB's are).
#include <cerrno>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <dlfcn.h>
#include <fcntl.h>
#include <string>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

namespace {

/// The errno to fail with now, or 0 (flag absent, or not configured).
const std::string& flag_path() {
  static const std::string path = [] {
    const char* flag = std::getenv("BENTO_TEST_FS_FAULT_FLAG");
    if (!flag)
      return std::string();
    std::string p = flag;
    const char* per_node = std::getenv("BENTO_TEST_FS_FAULT_PER_NODE");
    const char* node = std::getenv("BENTO_NODE_ID");
    if (per_node && std::strcmp(per_node, "1") == 0 && node)
      p += node;
    return p;
  }();
  return path;
}

int fault_errno() {
  const auto& flag = flag_path();
  if (flag.empty())
    return 0;
  // Read with the raw syscall: fopen/read would come back through our own hooks.
  int fd = static_cast<int>(syscall(SYS_openat, AT_FDCWD, flag.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd < 0)
    return 0;
  char buf[16] = {};
  auto n = syscall(SYS_read, fd, buf, sizeof buf - 1);
  syscall(SYS_close, fd);
  if (n <= 0)
    return 0;
  if (std::strncmp(buf, "EROFS", 5) == 0)
    return EROFS;
  return ENOSPC;
}

bool under_prefix(const char* path) {
  static const std::string prefix = [] {
    if (const char* p = std::getenv("BENTO_TEST_FS_FAULT_PREFIX"))
      return std::string(p);
    if (const char* d = std::getenv("BENTO_DATA_DIR"))
      return std::string(d) + "/";
    return std::string();
  }();
  return !prefix.empty() && path && std::strncmp(path, prefix.c_str(), prefix.size()) == 0;
}

bool fd_under_prefix(int fd) {
  char link[64], target[4096];
  std::snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
  auto n = syscall(SYS_readlinkat, AT_FDCWD, link, target, sizeof target - 1);
  if (n <= 0)
    return false;
  target[n] = 0;
  return under_prefix(target);
}

/// True (errno set) if a write to `fd` must fail now.
bool fail_fd(int fd) {
  int e = fault_errno();
  if (e == 0 || !fd_under_prefix(fd))
    return false;
  errno = e;
  return true;
}

bool fail_path(const char* path) {
  int e = fault_errno();
  if (e == 0 || !under_prefix(path))
    return false;
  errno = e;
  return true;
}

template <class F>
F next(const char* name) {
  return reinterpret_cast<F>(dlsym(RTLD_NEXT, name));
}

bool writes(int flags) {
  return (flags & (O_WRONLY | O_RDWR | O_CREAT | O_TRUNC | O_APPEND)) != 0;
}

} // namespace

extern "C" {

ssize_t write(int fd, const void* buf, size_t n) {
  static auto real = next<ssize_t (*)(int, const void*, size_t)>("write");
  return fail_fd(fd) ? -1 : real(fd, buf, n);
}
ssize_t pwrite(int fd, const void* buf, size_t n, off_t off) {
  static auto real = next<ssize_t (*)(int, const void*, size_t, off_t)>("pwrite");
  return fail_fd(fd) ? -1 : real(fd, buf, n, off);
}
ssize_t pwrite64(int fd, const void* buf, size_t n, off_t off) {
  static auto real = next<ssize_t (*)(int, const void*, size_t, off_t)>("pwrite64");
  return fail_fd(fd) ? -1 : real(fd, buf, n, off);
}
ssize_t writev(int fd, const struct iovec* iov, int cnt) {
  static auto real = next<ssize_t (*)(int, const struct iovec*, int)>("writev");
  return fail_fd(fd) ? -1 : real(fd, iov, cnt);
}
ssize_t pwritev(int fd, const struct iovec* iov, int cnt, off_t off) {
  static auto real = next<ssize_t (*)(int, const struct iovec*, int, off_t)>("pwritev");
  return fail_fd(fd) ? -1 : real(fd, iov, cnt, off);
}
int fsync(int fd) {
  static auto real = next<int (*)(int)>("fsync");
  return fail_fd(fd) ? -1 : real(fd);
}
int fdatasync(int fd) {
  static auto real = next<int (*)(int)>("fdatasync");
  return fail_fd(fd) ? -1 : real(fd);
}
int fallocate(int fd, int mode, off_t off, off_t len) {
  static auto real = next<int (*)(int, int, off_t, off_t)>("fallocate");
  return fail_fd(fd) ? -1 : real(fd, mode, off, len);
}
int fallocate64(int fd, int mode, off_t off, off_t len) {
  static auto real = next<int (*)(int, int, off_t, off_t)>("fallocate64");
  return fail_fd(fd) ? -1 : real(fd, mode, off, len);
}
int ftruncate(int fd, off_t len) {
  static auto real = next<int (*)(int, off_t)>("ftruncate");
  return fail_fd(fd) ? -1 : real(fd, len);
}
int open(const char* path, int flags, ...) {
  static auto real = next<int (*)(const char*, int, ...)>("open");
  mode_t mode = 0;
  if (flags & (O_CREAT | O_TMPFILE)) {
    va_list ap;
    va_start(ap, flags);
    mode = va_arg(ap, mode_t);
    va_end(ap);
  }
  if (writes(flags) && fail_path(path))
    return -1;
  return real(path, flags, mode);
}
// On 64-bit glibc open64 is open: one hook serves both names.
int open64(const char* path, int flags, ...) __attribute__((alias("open")));
int rename(const char* from, const char* to) {
  static auto real = next<int (*)(const char*, const char*)>("rename");
  return fail_path(to) ? -1 : real(from, to);
}
int unlink(const char* path) {
  static auto real = next<int (*)(const char*)>("unlink");
  return fail_path(path) ? -1 : real(path);
}

} // extern "C"
