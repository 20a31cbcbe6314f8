// Works around a bug of CAF 0.17.6's OpenSSL module that lets any stranger break healthy TLS links.
//
// OpenSSL keeps one error queue per thread and asks callers to empty it before each SSL_read, SSL_write,
// SSL_accept and SSL_connect: SSL_get_error() reports SSL_ERROR_SSL whenever the queue holds anything, whichever
// connection put it there. CAF runs every TLS connection of a node on its one multiplexer thread and empties the
// queue only inside log statements, which Debian's build compiles out. So a failed handshake (a node with a
// certificate from another CA, a plain TCP client, a port scanner) leaves its error in the queue, and the next
// read of a healthy link that returns "want more data" is taken for a fatal error: CAF closes that link.
// Even the transport's own reachability probe (dialer.hpp: a TCP connect closed before any TLS) does it.
// transport_tls_test shows it: without this file, TLS links between two good nodes keep dropping.
//
// The fix: these four functions are interposed and empty the calling thread's queue before calling OpenSSL's
// own. Defined in the executable and exported (the linker exports them because libcaf_openssl references them;
// the dynamic list in cluster/CMakeLists.txt says so explicitly), they take precedence over libssl's for
// libcaf_openssl. For any other caller in the process this is what OpenSSL asks of it anyway.
#include <dlfcn.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

namespace {

template <class F>
F next_symbol(const char* name) {
  return reinterpret_cast<F>(::dlsym(RTLD_NEXT, name));
}

using io_fn = int (*)(SSL*, void*, int);
using write_fn = int (*)(SSL*, const void*, int);
using handshake_fn = int (*)(SSL*);

} // namespace

extern "C" {

int SSL_read(SSL* ssl, void* buf, int num) {
  static auto real = next_symbol<io_fn>("SSL_read");
  ERR_clear_error();
  return real(ssl, buf, num);
}

int SSL_write(SSL* ssl, const void* buf, int num) {
  static auto real = next_symbol<write_fn>("SSL_write");
  ERR_clear_error();
  return real(ssl, buf, num);
}

int SSL_accept(SSL* ssl) {
  static auto real = next_symbol<handshake_fn>("SSL_accept");
  ERR_clear_error();
  return real(ssl);
}

int SSL_connect(SSL* ssl) {
  static auto real = next_symbol<handshake_fn>("SSL_connect");
  ERR_clear_error();
  return real(ssl);
}

} // extern "C"

namespace bento::cluster::transport {

// Referenced from transport.cpp so that the linker keeps this object (it is in a static library).
bool openssl_error_queue_fix_linked() noexcept {
  return true;
}

} // namespace bento::cluster::transport
