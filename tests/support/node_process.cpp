#include "tests/support/node_process.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <random>
#include <set>
#include <sstream>
#include <stdexcept>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>

#include "client/http_client.hpp"

extern char** environ;

namespace bento::test {

namespace {

pid_t spawn(const std::map<std::string, std::string>& env, const std::string& log_path, uint64_t file_limit = 0) {
  std::map<std::string, std::string> all;
  for (char** e = environ; *e; ++e) {
    std::string kv(*e);
    auto eq = kv.find('=');
    if (eq != std::string::npos && kv.rfind("BENTO_", 0) != 0)
      all[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
  for (auto& [k, v] : env)
    all[k] = v;
  std::vector<std::string> storage;
  for (auto& [k, v] : all)
    storage.push_back(k + "=" + v);
  std::vector<char*> envp;
  for (auto& s : storage)
    envp.push_back(s.data());
  envp.push_back(nullptr);
  auto bin = node_binary();
  pid_t pid = fork();
  if (pid == 0) {
    int fd = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd >= 0) {
      dup2(fd, 1);
      dup2(fd, 2);
      ::close(fd);
    }
    if (file_limit > 0) {
      rlimit rl{static_cast<rlim_t>(file_limit), static_cast<rlim_t>(file_limit)};
      setrlimit(RLIMIT_NOFILE, &rl);
    }
    char* argv[] = {bin.data(), nullptr};
    execve(bin.c_str(), argv, envp.data());
    _exit(127);
  }
  return pid;
}

/// Waits for the child to exit within timeout; returns exit code, or -1 when it did not exit in time.
int wait_exit(pid_t pid, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    int status = 0;
    auto r = waitpid(pid, &status, WNOHANG);
    if (r == pid)
      return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    std::this_thread::sleep_for(std::chrono::milliseconds(10)); // polling interval of a bounded wait
  }
  return -1;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

} // namespace

std::string node_binary() {
  if (const char* dir = std::getenv("BENTO_BIN_DIR"))
    return std::string(dir) + "/bento-node";
  // Test executables are built next to bento-node.
  char self[4096];
  auto n = ::readlink("/proc/self/exe", self, sizeof self - 1);
  std::string path(self, n > 0 ? static_cast<size_t>(n) : 0);
  return path.substr(0, path.rfind('/')) + "/bento-node";
}

namespace {

/// The lowest port the kernel hands out on its own (bind to 0, and the source port of every outgoing connection).
uint16_t ephemeral_floor() {
  std::ifstream f("/proc/sys/net/ipv4/ip_local_port_range");
  unsigned low = 0;
  if (!(f >> low) || low > 65535)
    return 32768;
  return static_cast<uint16_t>(low);
}

/// True when nothing is bound to 127.0.0.1:port right now (no SO_REUSEADDR: a connection's port counts too).
bool bindable(uint16_t port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0)
    return false;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(port);
  bool ok = ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  ::close(fd);
  return ok;
}

} // namespace

uint16_t free_port() {
  // Drawn below the kernel's ephemeral range: a port the kernel chose there could be handed to another
  // process's outgoing connection (tests run in parallel, the chaos rig opens thousands) before the node binds
  // it, or while a killed node is down before its restart on the same port. Never given out twice in one test
  // process; random, so that parallel test processes rarely pick the same one in the moment before binding.
  static std::mutex mutex;
  static std::set<uint16_t> given;
  static std::mt19937 rng{std::random_device{}()};
  std::lock_guard lock(mutex);
  uint16_t floor = ephemeral_floor();
  uint16_t low = 10000;
  // A machine whose ephemeral range starts low leaves nothing below it: take the ports above it instead.
  std::uniform_int_distribution<int> pick(floor > low + 1000 ? low : 61000, floor > low + 1000 ? floor - 1 : 65535);
  for (int attempt = 0; attempt < 1000; ++attempt) {
    auto port = static_cast<uint16_t>(pick(rng));
    if (given.count(port) == 0 && bindable(port)) {
      given.insert(port);
      return port;
    }
  }
  FAIL("no free port found");
  return 0;
}

std::map<std::string, std::string> fast_node_env() {
  return {{"BENTO_ARGON2_MEM_KIB", "8192"}, {"BENTO_ARGON2_OPS", "1"}, {"BENTO_LOG_LEVEL", "info"}};
}

node_process::node_process(std::string data_dir, std::map<std::string, std::string> env)
  : data_dir_(std::move(data_dir)), env_(std::move(env)) {
  log_path_ = data_dir_ + ".log";
}

node_process::~node_process() {
  if (pid_ > 0)
    kill9();
}

void node_process::start() {
  // Ports drawn by this process can still be taken by a parallel test process in the moment before the node
  // binds them: a first start that exits on a port in use starts again on others (never a restart: a
  // restarted node keeps its ports, as its clients and peers expect).
  bool drawn = port_ == 0 && !env_.count("BENTO_CLIENT_PORT") && !env_.count("BENTO_CLUSTER_PORT");
  for (int attempt = 0; drawn && attempt < 3; ++attempt) {
    auto logged = output().size(); // the log is appended to: only this attempt's lines count
    launch();
    if (!exited_on_port_in_use(logged))
      break;
    port_ = 0;
    client_port_ = 0;
  }
  if (pid_ <= 0)
    launch();
  wait_healthy();
}

bool node_process::exited_on_port_in_use(size_t logged) {
  client::http_client probe(base_url(), std::chrono::seconds(2));
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (std::chrono::steady_clock::now() < deadline) {
    int status = 0;
    // Exited first, healthy second: a port taken by another test's node would answer /healthz for ours.
    bool exited = waitpid(pid_, &status, WNOHANG) == pid_;
    if (!exited && probe.get("/healthz").status == 200)
      return false;
    if (exited) {
      if (output().find("Address already in use", logged) == std::string::npos) {
        pid_ = -1;
        FAIL("bento-node exited during start-up:\n" << output());
      }
      pid_ = -1;
      return true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20)); // polling interval of a bounded wait
  }
  return false; // wait_healthy reports it
}

void node_process::launch() {
  REQUIRE(pid_ <= 0);
  // A restarted node keeps its port, so clients of the test can carry on as after a real restart.
  if (port_ == 0)
    port_ = free_port();
  auto env = env_;
  env["BENTO_DATA_DIR"] = data_dir_;
  env["BENTO_HTTP_PORT"] = std::to_string(port_);
  if (client_port_ == 0)
    client_port_ = env.count("BENTO_CLIENT_PORT") ? static_cast<uint16_t>(std::stoi(env["BENTO_CLIENT_PORT"]))
                                                  : free_port();
  env["BENTO_CLIENT_PORT"] = std::to_string(client_port_);
  // A cluster test names each node's cluster port up front (the seeds list them); alone any free one does.
  if (!env.count("BENTO_CLUSTER_PORT"))
    env["BENTO_CLUSTER_PORT"] = std::to_string(free_port());
  env["BENTO_BIND"] = "127.0.0.1";
  pid_ = spawn(env, log_path_, file_limit_);
  REQUIRE(pid_ > 0);
}

bool node_process::healthy() {
  client::http_client probe(base_url(), std::chrono::seconds(2));
  return probe.get("/healthz").status == 200;
}

bool node_process::exited() {
  int status = 0;
  if (pid_ <= 0 || waitpid(pid_, &status, WNOHANG) != pid_)
    return false;
  pid_ = -1;
  return true;
}

void node_process::wait_healthy(std::chrono::seconds timeout) {
  REQUIRE(pid_ > 0);
  client::http_client probe(base_url(), std::chrono::seconds(2));
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (probe.get("/healthz").status == 200)
      return;
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      FAIL("bento-node exited during start-up:\n" << output());
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20)); // polling interval of a bounded wait
  }
  FAIL("bento-node did not become healthy within " << timeout.count() << " s:\n" << output());
}

namespace {

/// Whether every thread of `pid` is stopped (state T in /proc/<pid>/task/*/stat).
bool all_threads_stopped(pid_t pid) {
  std::error_code ec;
  auto tasks = std::filesystem::path("/proc") / std::to_string(pid) / "task";
  for (auto& task : std::filesystem::directory_iterator(tasks, ec)) {
    std::ifstream in(task.path() / "stat");
    std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    auto close = stat.rfind(')'); // the command name may hold spaces and parentheses
    if (close == std::string::npos || close + 2 >= stat.size())
      continue; // the thread has just exited
    if (stat[close + 2] != 'T' && stat[close + 2] != 't')
      return false;
  }
  return !ec;
}

} // namespace

void node_process::pause() {
  REQUIRE(pid_ > 0);
  ::kill(pid_, SIGSTOP);
  // SIGSTOP takes effect as each thread next runs, which on a loaded machine can be after kill() returns:
  // a test's next request must not find a thread still serving.
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (!all_threads_stopped(pid_) && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(1)); // polling interval of a bounded wait
  REQUIRE(all_threads_stopped(pid_));
}

void node_process::resume() {
  REQUIRE(pid_ > 0);
  ::kill(pid_, SIGCONT);
}

int node_process::wait_exited(std::chrono::seconds timeout) {
  REQUIRE(pid_ > 0);
  auto code = wait_exit(pid_, timeout);
  if (code == -1) {
    ::kill(pid_, SIGKILL);
    wait_exit(pid_, std::chrono::seconds(5));
  }
  pid_ = -1;
  return code;
}

int node_process::stop() {
  if (pid_ <= 0)
    return -1;
  ::kill(pid_, SIGTERM);
  ::kill(pid_, SIGCONT); // a paused node must wake to see it
  auto code = wait_exit(pid_, std::chrono::seconds(15));
  if (code == -1) {
    ::kill(pid_, SIGKILL);
    wait_exit(pid_, std::chrono::seconds(5));
  }
  pid_ = -1;
  if (code != 0) {
    // The node's last words, for whoever reads a failed CI run.
    auto out = output();
    WARN("bento-node exited with " << code << "; its output ends with:\n"
                                   << out.substr(out.size() > 6000 ? out.size() - 6000 : 0));
  }
  return code;
}

void node_process::kill9() {
  if (pid_ <= 0)
    return;
  ::kill(pid_, SIGKILL);
  wait_exit(pid_, std::chrono::seconds(10));
  pid_ = -1;
}

std::string node_process::output() const {
  return read_file(log_path_);
}

int run_node_to_exit(const std::map<std::string, std::string>& env, std::string& output, int timeout_s) {
  char tmpl[] = "/tmp/bento-run-XXXXXX";
  int fd = mkstemp(tmpl);
  ::close(fd);
  auto pid = spawn(env, tmpl);
  auto code = wait_exit(pid, std::chrono::seconds(timeout_s));
  if (code == -1) {
    ::kill(pid, SIGKILL);
    wait_exit(pid, std::chrono::seconds(5));
  }
  output = read_file(tmpl);
  ::unlink(tmpl);
  return code;
}

std::string raw_http(uint16_t port, const std::string& bytes, int timeout_ms) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(port);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return {};
  }
  size_t sent = 0;
  while (sent < bytes.size()) {
    auto n = ::send(fd, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
    if (n <= 0)
      break;
    sent += static_cast<size_t>(n);
  }
  std::string out;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  char buf[4096];
  while (std::chrono::steady_clock::now() < deadline) {
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, 100) <= 0)
      continue;
    auto n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0)
      break;
    out.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  return out;
}

} // namespace bento::test
