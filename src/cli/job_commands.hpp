#pragma once
// The commands that act on jobs, through the REST API (ApiClient). Each
// returns the exit code; errors are thrown and mapped in main.cpp:
//   0 ok, 1 failure, 2 usage or bad input, 3 schema, 4 API or database
//   unreachable, 5 the job ended dead or cancelled (wait, image --wait),
//   6 wait timed out.
#include <optional>
#include <string>

#include "cli/api_client.hpp"

namespace jobqueue::cli {

constexpr int kExitJobFailed = 5;
constexpr int kExitTimedOut = 6;

struct EnqueueOptions {
  std::string kind;
  std::string payload;  // JSON text; empty: {}
  std::string queue;
  std::optional<int> priority;
  std::optional<double> delay_seconds;
  std::optional<int> max_attempts;
  std::string key;
  std::string file;     // JSON lines ("-": stdin); replaces kind/payload
  std::size_t batch_size = 500;
  bool json = false;
};
int EnqueueCommand(const ApiClient& api, const EnqueueOptions& o);

struct ImageOptions {
  std::string file;
  std::string ops;
  std::string queue;
  std::string output;   // where to save the result; implies wait
  bool wait = false;
  double timeout_seconds = 120;
  bool json = false;
};
int ImageCommand(const ApiClient& api, const ImageOptions& o);

struct StatusOptions {
  bool watch = false;
  double interval_seconds = 2;
  bool json = false;
};
int StatusCommand(const ApiClient& api, const StatusOptions& o);

struct JobsOptions {
  std::string state, queue, kind;
  int limit = 20;
  bool json = false;
};
int JobsCommand(const ApiClient& api, const JobsOptions& o);

int ShowCommand(const ApiClient& api, long long id, bool json);
// action: "cancel" or "retry".
int TransitionCommand(const ApiClient& api, long long id, const std::string& action, bool json);

struct WaitOptions {
  long long id = 0;
  double timeout_seconds = 0;  // 0: no limit
  double interval_seconds = 0.5;
  bool json = false;
};
int WaitCommand(const ApiClient& api, const WaitOptions& o);

}  // namespace jobqueue::cli
