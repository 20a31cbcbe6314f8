#pragma once
// Runs the real bento-node binary for integration tests: a free port, a given data directory, output captured
// to a file, bounded waits for health and for exit, and cleanup by PID.
#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <sys/types.h>

#include <catch2/catch.hpp>

#include "tests/support/temp_dir.hpp"

namespace bento::test {

/// A port that was free a moment ago (bound to 0 and released).
uint16_t free_port();

/// Environment that keeps tests quick but real: cheaper Argon2id parameters, quiet logs.
std::map<std::string, std::string> fast_node_env();

class node_process {
public:
  node_process(std::string data_dir, std::map<std::string, std::string> env = fast_node_env());
  ~node_process();
  node_process(const node_process&) = delete;
  node_process& operator=(const node_process&) = delete;

  /// Starts the node and waits (bounded) until /healthz answers; fails the test otherwise.
  void start();
  /// start() in two halves, for nodes that only become healthy together (a cluster forming from its seeds).
  void launch();
  void wait_healthy(std::chrono::seconds timeout = std::chrono::seconds(30));
  /// After a first launch(): true if the node exited because a port it was given was taken meanwhile (found in
  /// the log after its first `logged` bytes).
  bool exited_on_port_in_use(size_t logged);
  /// SIGSTOP / SIGCONT: the process is frozen, its sockets stay open (a long GC pause, a stalled VM).
  void pause();
  void resume();
  /// SIGTERM, then waits (bounded) for the exit; returns the exit code (-1 if it had to be killed).
  int stop();
  /// SIGKILL: the process gets no chance to flush anything.
  void kill9();

  /// Runs the node with this RLIMIT_NOFILE (soft and hard); 0 inherits the test's.
  void set_file_limit(uint64_t limit) { file_limit_ = limit; }

  /// After launch(): waits (bounded) for the process to exit by itself; its exit code, or -1 if it was still
  /// running at the timeout (it is then killed).
  int wait_exited(std::chrono::seconds timeout);
  const std::string& data_dir() const { return data_dir_; }

  bool running() const { return pid_ > 0; }
  /// One /healthz probe: 200 now.
  bool healthy();
  /// Whether the process has exited on its own (reaped then: running() turns false).
  bool exited();
  pid_t pid() const { return pid_; }
  uint16_t port() const { return port_; }
  /// The binary client protocol's port (kept across restarts, like the HTTP port).
  uint16_t client_port() const { return client_port_; }
  std::string base_url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  std::string output() const;

private:
  std::string data_dir_;
  std::map<std::string, std::string> env_;
  uint16_t port_ = 0;
  uint16_t client_port_ = 0;
  pid_t pid_ = -1;
  uint64_t file_limit_ = 0;
  std::string log_path_;
};

/// Runs bento-node to completion with this environment (for start-up failures); returns exit code and output.
int run_node_to_exit(const std::map<std::string, std::string>& env, std::string& output, int timeout_s = 20);

/// Sends raw bytes to 127.0.0.1:port and returns everything read until the server closes (bounded).
std::string raw_http(uint16_t port, const std::string& bytes, int timeout_ms = 5000);

std::string node_binary();

/// A node started on a fresh temp data dir for one test, stopped cleanly (exit 0 checked) at the end.
struct running_node {
  temp_dir dir;
  node_process node;
  explicit running_node(std::map<std::string, std::string> env = fast_node_env()) : node(dir / "data", env) {
    node.start();
  }
  ~running_node() {
    if (node.running())
      CHECK(node.stop() == 0);
  }
};

} // namespace bento::test
