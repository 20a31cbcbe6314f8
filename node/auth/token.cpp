#include "node/auth/token.hpp"

#include <sodium.h>

#include <nlohmann/json.hpp>

namespace bento::node {

using domain::errc;
using domain::fail;

std::string base64url_encode(const std::string& bytes) {
  std::string out(sodium_base64_ENCODED_LEN(bytes.size(), sodium_base64_VARIANT_URLSAFE_NO_PADDING), '\0');
  sodium_bin2base64(out.data(), out.size(), reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size(),
                    sodium_base64_VARIANT_URLSAFE_NO_PADDING);
  out.resize(out.size() - 1); // drop the terminating NUL
  return out;
}

bool base64url_decode(const std::string& text, std::string& out) {
  out.assign(text.size(), '\0');
  size_t len = 0;
  if (sodium_base642bin(reinterpret_cast<unsigned char*>(out.data()), out.size(), text.data(), text.size(),
                        nullptr, &len, nullptr, sodium_base64_VARIANT_URLSAFE_NO_PADDING)
      != 0)
    return false;
  out.resize(len);
  return true;
}

token_signer::token_signer(const std::string& secret) {
  static const char context[] = "bento token v1";
  crypto_generichash(key_, sizeof key_, reinterpret_cast<const unsigned char*>(secret.data()), secret.size(),
                     reinterpret_cast<const unsigned char*>(context), sizeof context - 1);
}

std::string token_signer::sign(const std::string& payload) const {
  unsigned char mac[crypto_auth_hmacsha256_BYTES];
  crypto_auth_hmacsha256_state st;
  crypto_auth_hmacsha256_init(&st, key_, sizeof key_);
  crypto_auth_hmacsha256_update(&st, reinterpret_cast<const unsigned char*>(payload.data()), payload.size());
  crypto_auth_hmacsha256_final(&st, mac);
  return std::string(reinterpret_cast<char*>(mac), sizeof mac);
}

std::string token_signer::issue(const token_claims& c) const {
  nlohmann::json j = {{"uid", c.user_id}, {"usr", c.username}, {"role", domain::to_string(c.role)},
                      {"jti", c.token_id}, {"iat", c.issued_at_s}, {"exp", c.expires_at_s}};
  auto payload = base64url_encode(j.dump());
  return payload + "." + base64url_encode(sign(payload));
}

domain::outcome<token_claims> token_signer::verify(const std::string& token, int64_t now_s) const {
  {
    std::lock_guard lock(verified_mutex_);
    if (auto hit = verified_.find(token); hit != verified_.end()) {
      if (hit->second.expires_at_s <= now_s)
        return fail(errc::unauthenticated, "missing, invalid or expired token");
      return hit->second;
    }
  }
  auto checked = verify_uncached(token, now_s);
  if (checked) {
    std::lock_guard lock(verified_mutex_);
    if (verified_.size() >= max_verified)
      verified_.clear();
    verified_.emplace(token, *checked);
  }
  return checked;
}

domain::outcome<token_claims> token_signer::verify_uncached(const std::string& token, int64_t now_s) const {
  auto bad = fail(errc::unauthenticated, "missing, invalid or expired token");
  if (token.size() > 4096)
    return bad;
  auto dot = token.find('.');
  if (dot == std::string::npos)
    return bad;
  auto payload = token.substr(0, dot);
  std::string mac;
  if (!base64url_decode(token.substr(dot + 1), mac) || mac.size() != crypto_auth_hmacsha256_BYTES)
    return bad;
  auto expected = sign(payload);
  if (sodium_memcmp(expected.data(), mac.data(), mac.size()) != 0)
    return bad;
  std::string json_text;
  if (!base64url_decode(payload, json_text))
    return bad;
  auto j = nlohmann::json::parse(json_text, nullptr, false);
  if (!j.is_object())
    return bad;
  token_claims c;
  try {
    c.user_id = j.at("uid").get<std::string>();
    c.username = j.at("usr").get<std::string>();
    auto role = domain::parse_role(j.at("role").get<std::string>());
    if (!role)
      return bad;
    c.role = *role;
    c.token_id = j.at("jti").get<std::string>();
    c.issued_at_s = j.at("iat").get<int64_t>();
    c.expires_at_s = j.at("exp").get<int64_t>();
  } catch (const nlohmann::json::exception&) {
    return bad;
  }
  if (c.expires_at_s <= now_s)
    return bad;
  return c;
}

} // namespace bento::node
