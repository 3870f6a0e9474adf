#pragma once
// Runs the `jobqueue` CLI as a child process and collects what it printed
// and its exit code. For the CLI tests (core_tests: migrate and usage;
// api_tests: the commands that talk to a live API).
#include <map>
#include <string>
#include <vector>

namespace jobqueue::testing {

struct RunResult {
  int exit_code = -1;
  std::string out;
  std::string err;
};

// Runs `binary` with `args` and the variables in `env` set (others of this
// process are inherited, minus DATABASE_URL, JOBQUEUE_* and LOG_*, which
// only `env` sets). `stdin_text` is the child's standard input (empty: EOF).
RunResult RunCli(const std::string& binary, const std::vector<std::string>& args,
                 const std::map<std::string, std::string>& env, const std::string& stdin_text = "");

}  // namespace jobqueue::testing
