#include "cluster/transport/tls_files.hpp"

#include <memory>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>

namespace bento::cluster::transport {

namespace {

std::string openssl_error() {
  char buf[256] = {0};
  auto e = ERR_get_error();
  ERR_clear_error();
  if (e == 0)
    return "unknown error";
  ERR_error_string_n(e, buf, sizeof buf);
  return buf;
}

} // namespace

std::string check_tls_files(const tls_files& files) {
  ERR_clear_error();
  std::unique_ptr<SSL_CTX, decltype(&SSL_CTX_free)> ctx(SSL_CTX_new(TLS_method()), &SSL_CTX_free);
  if (!ctx)
    return "cannot create a TLS context: " + openssl_error();
  if (SSL_CTX_use_certificate_chain_file(ctx.get(), files.certificate.c_str()) != 1)
    return "BENTO_TLS_CERT '" + files.certificate + "' does not load: " + openssl_error();
  if (SSL_CTX_use_PrivateKey_file(ctx.get(), files.private_key.c_str(), SSL_FILETYPE_PEM) != 1)
    return "BENTO_TLS_KEY '" + files.private_key + "' does not load: " + openssl_error();
  if (SSL_CTX_check_private_key(ctx.get()) != 1)
    return "BENTO_TLS_KEY does not match BENTO_TLS_CERT: " + openssl_error();
  if (SSL_CTX_load_verify_locations(ctx.get(), files.ca.c_str(), nullptr) != 1)
    return "BENTO_TLS_CA '" + files.ca + "' does not load: " + openssl_error();
  // Our own certificate must pass the check every peer will make, or no link would ever come up.
  auto* cert = SSL_CTX_get0_certificate(ctx.get());
  std::unique_ptr<X509_STORE_CTX, decltype(&X509_STORE_CTX_free)> vctx(X509_STORE_CTX_new(), &X509_STORE_CTX_free);
  if (!cert || !vctx || X509_STORE_CTX_init(vctx.get(), SSL_CTX_get_cert_store(ctx.get()), cert, nullptr) != 1)
    return "cannot check BENTO_TLS_CERT against BENTO_TLS_CA: " + openssl_error();
  if (X509_verify_cert(vctx.get()) != 1)
    return std::string("BENTO_TLS_CERT is not signed by BENTO_TLS_CA: ")
           + X509_verify_cert_error_string(X509_STORE_CTX_get_error(vctx.get()));
  return {};
}

} // namespace bento::cluster::transport
