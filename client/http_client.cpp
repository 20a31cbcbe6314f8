#include "client/http_client.hpp"

#include <algorithm>
#include <cctype>

#include <curl/curl.h>

namespace bento::client {

namespace {

struct global_init {
  global_init() { curl_global_init(CURL_GLOBAL_DEFAULT); }
};

size_t on_body(char* data, size_t size, size_t n, void* user) {
  static_cast<std::string*>(user)->append(data, size * n);
  return size * n;
}

size_t on_header(char* data, size_t size, size_t n, void* user) {
  auto* headers = static_cast<std::map<std::string, std::string>*>(user);
  std::string line(data, size * n);
  auto colon = line.find(':');
  if (colon != std::string::npos) {
    auto name = line.substr(0, colon);
    std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) { return std::tolower(c); });
    auto value = line.substr(colon + 1);
    value.erase(0, value.find_first_not_of(" \t"));
    while (!value.empty() && (value.back() == '\r' || value.back() == '\n'))
      value.pop_back();
    (*headers)[name] = value;
  }
  return size * n;
}

} // namespace

struct http_client::impl {
  std::string base;
  long timeout_ms;
  CURL* curl = nullptr;
};

http_client::http_client(std::string base_url, std::chrono::milliseconds timeout) : impl_(std::make_unique<impl>()) {
  static global_init once;
  impl_->base = std::move(base_url);
  impl_->timeout_ms = static_cast<long>(timeout.count());
  impl_->curl = curl_easy_init();
}

http_client::~http_client() {
  if (impl_->curl)
    curl_easy_cleanup(impl_->curl);
}

http_result http_client::request(const std::string& method, const std::string& path, const std::string& body,
                                 const std::vector<std::pair<std::string, std::string>>& headers) {
  http_result out;
  CURL* c = impl_->curl;
  curl_easy_reset(c);
  auto url = impl_->base + path;
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method.c_str());
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, impl_->timeout_ms);
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &out.body);
  curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(c, CURLOPT_HEADERDATA, &out.headers);
  if (!body.empty() || method == "POST" || method == "PUT" || method == "PATCH") {
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body.data());
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
  }
  curl_slist* list = nullptr;
  list = curl_slist_append(list, "Content-Type: application/json");
  list = curl_slist_append(list, "Expect:");
  for (auto& [k, v] : headers)
    list = curl_slist_append(list, (k + ": " + v).c_str());
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, list);
  auto rc = curl_easy_perform(c);
  curl_slist_free_all(list);
  if (rc != CURLE_OK) {
    out.transport_error = curl_easy_strerror(rc);
    return out;
  }
  long status = 0;
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
  out.status = static_cast<int>(status);
  return out;
}

http_result http_client::get(const std::string& path, const std::string& token) {
  if (token.empty())
    return request("GET", path);
  return request("GET", path, {}, {{"Authorization", "Bearer " + token}});
}

http_result http_client::post(const std::string& path, const std::string& body, const std::string& token) {
  if (token.empty())
    return request("POST", path, body);
  return request("POST", path, body, {{"Authorization", "Bearer " + token}});
}

} // namespace bento::client
