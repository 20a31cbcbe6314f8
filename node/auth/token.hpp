#pragma once
// Session tokens: signed, self-contained claims, so that checking one needs no round trip to the user's actor.
// Format: base64url(JSON claims) "." base64url(HMAC-SHA-256(key, first part)).
#include <cstdint>
#include <mutex>
#include <string>
#include <unordered_map>

#include "protocol/domain/outcome.hpp"
#include "protocol/domain/types.hpp"

namespace bento::node {

struct token_claims {
  std::string user_id;
  std::string username;
  domain::role role = domain::role::customer;
  std::string token_id; // random; what revocation records
  int64_t issued_at_s = 0;
  int64_t expires_at_s = 0;
};

class token_signer {
public:
  /// Any secret length works: the HMAC key is derived from it.
  explicit token_signer(const std::string& secret);

  std::string issue(const token_claims& claims) const;
  /// Checks signature, shape and expiry (at now_s). Any defect is `unauthenticated`.
  domain::outcome<token_claims> verify(const std::string& token, int64_t now_s) const;

private:
  std::string sign(const std::string& payload) const;
  domain::outcome<token_claims> verify_uncached(const std::string& token, int64_t now_s) const;
  unsigned char key_[32];
  // Tokens whose signature and shape were verified, by their exact text: every request of a session carries
  // the same one, and the MAC, its base64 and the claims' JSON were ~8 % of a menu read. Only an identical
  // string hits, so nothing unsigned gets in; expiry is checked on every use; bounded (cleared when full).
  static constexpr size_t max_verified = 16384;
  mutable std::mutex verified_mutex_;
  mutable std::unordered_map<std::string, token_claims> verified_;
};

std::string base64url_encode(const std::string& bytes);
bool base64url_decode(const std::string& text, std::string& out);

} // namespace bento::node
