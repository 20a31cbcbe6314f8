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
/// Tokens the mutator inserts, from the target (HTTP text, Protobuf field tags, ...).
extern "C" const char* const* bento_fuzz_dictionary(size_t* n);
/// Inputs the target makes itself (binary frames are easier built than stored); optional.
extern "C" __attribute__((weak)) void bento_fuzz_builtin_seeds(void (*add)(const char* data, size_t size));

namespace {

volatile std::sig_atomic_t current = -1;
unsigned long seed_used = 0;

void on_abort(int) {
  char line[160];
  int n = std::snprintf(line, sizeof line, "fuzz replay: failed at input %d (seed %lu)\n",
                        static_cast<int>(current), seed_used);
  if (n > 0)
    (void)!::write(2, line, static_cast<size_t>(n));
  std::signal(SIGABRT, SIG_DFL);
  std::raise(SIGABRT);
}


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
        size_t n = 0;
        auto* words = bento_fuzz_dictionary(&n);
        if (n > 0)
          s.insert(pick(s.size() + 1), words[pick(n)]);
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
    std::fprintf(stderr, "usage: %s <corpus dir> [mutations=2000] [seed=1]\n", argv[0]);
    return 2;
  }
  if (std::string(argv[1]) == "--emit-seeds" && argc > 2) {
    // The target's built-in seeds as files, for a libFuzzer corpus (make fuzz).
    static std::string dir = argv[2];
    static int count = 0;
    std::filesystem::create_directories(dir);
    if (bento_fuzz_builtin_seeds)
      bento_fuzz_builtin_seeds([](const char* data, size_t size) {
        std::ofstream(dir + "/seed-" + std::to_string(count++), std::ios::binary).write(data, static_cast<std::streamsize>(size));
      });
    std::printf("%d seeds written to %s\n", count, dir.c_str());
    return 0;
  }
  size_t mutations = argc > 2 ? std::strtoul(argv[2], nullptr, 10) : 2000;
  seed_used = argc > 3 ? std::strtoul(argv[3], nullptr, 10) : 1;
  std::signal(SIGABRT, on_abort);
  std::vector<std::filesystem::path> files;
  std::error_code ec;
  for (auto& e : std::filesystem::directory_iterator(argv[1], ec))
    if (e.is_regular_file() && e.path().filename().string()[0] != '.')
      files.push_back(e.path());
  std::sort(files.begin(), files.end());
  std::vector<std::string> corpus;
  for (auto& f : files) {
    std::ifstream in(f, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    corpus.push_back(ss.str());
  }
  static std::vector<std::string>* builtin = &corpus;
  if (bento_fuzz_builtin_seeds)
    bento_fuzz_builtin_seeds([](const char* data, size_t size) { builtin->emplace_back(data, size); });
  if (corpus.empty()) {
    std::fprintf(stderr, "%s: empty corpus %s\n", argv[0], argv[1]);
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
  std::printf("%s: %zu corpus inputs and %zu mutations (seed %lu), %llu requests routed: no finding\n", argv[0],
              corpus.size(), mutations, seed_used, static_cast<unsigned long long>(routed));
  return 0;
}
