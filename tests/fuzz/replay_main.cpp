// The fuzz target as a plain, deterministic test (built with g++, run by ctest): every corpus file, then N
// seeded mutations of them. A crash or broken invariant aborts; the seed and iteration are printed first so
// that `fuzz_http_replay <corpus> <n> <seed>` reproduces it. Long, coverage-guided runs: `make fuzz`.
#include <algorithm>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <unistd.h>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);
extern "C" void bento_fuzz_shutdown();
extern "C" uint64_t bento_fuzz_routed_requests();

namespace {

volatile std::sig_atomic_t current = -1;
unsigned long seed_used = 0;

void on_abort(int) {
  char line[160];
  int n = std::snprintf(line, sizeof line, "fuzz_http_replay: failed at input %d (seed %lu)\n",
                        static_cast<int>(current), seed_used);
  if (n > 0)
    (void)!::write(2, line, static_cast<size_t>(n));
  std::signal(SIGABRT, SIG_DFL);
  std::raise(SIGABRT);
}

const char* const dictionary[] = {
  "\r\n", "\r\n\r\n", " HTTP/1.1\r\n", "Transfer-Encoding: chunked\r\n", "Content-Length: ", "0\r\n\r\n",
  "Authorization: Bearer $CUSTOMER\r\n", "Authorization: Bearer $MERCHANT\r\n", "Idempotency-Key: ",
  "X-Forwarded-For: ", "?limit=", "&cursor=", "%00", "%", "+", ";ext=", "{", "}", "[", "]", "\"", "\\u0000",
  "/api/v1/orders", "/api/v1/menu", "/api/v1/restaurants/", "/metrics", ",", ":", "-1", "99999999999",
};

std::string mutate(std::string s, const std::vector<std::string>& corpus, std::mt19937& rng) {
  auto pick = [&](size_t n) { return n == 0 ? size_t{0} : std::uniform_int_distribution<size_t>(0, n - 1)(rng); };
  int ops = 1 + static_cast<int>(pick(4));
  for (int i = 0; i < ops; ++i) {
    switch (pick(6)) {
      case 0: // flip a byte
        if (!s.empty())
          s[pick(s.size())] = static_cast<char>(pick(256));
        break;
      case 1: { // insert a dictionary token
        auto& t = dictionary[pick(sizeof dictionary / sizeof *dictionary)];
        s.insert(pick(s.size() + 1), t);
        break;
      }
      case 2: // delete a range
        if (!s.empty()) {
          auto at = pick(s.size());
          s.erase(at, pick(std::min<size_t>(64, s.size() - at) + 1));
        }
        break;
      case 3: // repeat a range (long values, many chunks)
        if (!s.empty()) {
          auto at = pick(s.size());
          auto len = pick(std::min<size_t>(32, s.size() - at) + 1);
          auto piece = s.substr(at, len);
          for (size_t r = pick(64); r > 0 && s.size() < (256u << 10); --r)
            s.insert(at, piece);
        }
        break;
      case 4: { // splice with another input
        auto& other = corpus[pick(corpus.size())];
        s = s.substr(0, pick(s.size() + 1)) + other.substr(pick(other.size() + 1));
        break;
      }
      default: // a random run of bytes
        s.insert(pick(s.size() + 1), std::string(pick(16) + 1, static_cast<char>(pick(256))));
        break;
    }
  }
  return s;
}

} // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: fuzz_http_replay <corpus dir> [mutations=2000] [seed=1]\n");
    return 2;
  }
  size_t mutations = argc > 2 ? std::strtoul(argv[2], nullptr, 10) : 2000;
  seed_used = argc > 3 ? std::strtoul(argv[3], nullptr, 10) : 1;
  std::signal(SIGABRT, on_abort);
  std::vector<std::filesystem::path> files;
  for (auto& e : std::filesystem::directory_iterator(argv[1]))
    if (e.is_regular_file())
      files.push_back(e.path());
  std::sort(files.begin(), files.end());
  std::vector<std::string> corpus;
  for (auto& f : files) {
    std::ifstream in(f, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    corpus.push_back(ss.str());
  }
  if (corpus.empty()) {
    std::fprintf(stderr, "fuzz_http_replay: empty corpus %s\n", argv[1]);
    return 2;
  }
  int index = 0;
  for (auto& input : corpus) {
    current = index++;
    LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t*>(input.data()), input.size());
  }
  std::mt19937 rng(static_cast<std::mt19937::result_type>(seed_used));
  for (size_t i = 0; i < mutations; ++i) {
    current = index++;
    auto input = mutate(corpus[i % corpus.size()], corpus, rng);
    LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t*>(input.data()), input.size());
  }
  auto routed = bento_fuzz_routed_requests();
  bento_fuzz_shutdown();
  std::printf("fuzz_http_replay: %zu corpus inputs and %zu mutations (seed %lu), %llu requests routed: no "
              "finding\n", corpus.size(), mutations, seed_used, static_cast<unsigned long long>(routed));
  return 0;
}
