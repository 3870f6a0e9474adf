#pragma once
// Human output for the CLI: aligned tables, relative times, colour only on
// a terminal and never with NO_COLOR, and a progress line on stderr that
// shows only on a terminal.
#include <chrono>
#include <optional>
#include <string>
#include <vector>

namespace jobqueue::cli {

bool IsTerminal(int fd);
// Colour on stdout: a terminal, NO_COLOR unset or empty, TERM not "dumb".
bool UseColour();

// `text` in the colour of a job state (green succeeded, red dead, ...);
// unchanged without colour.
std::string StateColoured(const std::string& state);
std::string Bold(const std::string& text);

// Seconds since the epoch of an API timestamp ("2026-11-23T15:35:01.123456Z").
std::optional<double> ParseTimestamp(const std::string& text);
// "3 min ago", "in 20 s", "just now"; "-" for an empty text.
std::string RelativeTime(const std::string& timestamp);
// "4.2 s", "3 min 5 s", "2 h 10 min".
std::string Duration(double seconds);

// Rows of cells printed with columns aligned, two spaces between them.
class Table {
 public:
  explicit Table(std::vector<std::string> header);
  void Add(std::vector<std::string> row);
  std::string Render() const;

 private:
  std::vector<std::vector<std::string>> rows_;  // rows_[0] is the header
};

// "1,234 / 10,000 (12%)  850 jobs/s  ETA 11 s" redrawn on stderr, on a
// terminal only: piped, nothing until the summary the command prints.
class Progress {
 public:
  Progress(std::size_t total, bool enabled);
  void Update(std::size_t done);
  void Finish();

 private:
  std::size_t total_;
  bool enabled_;
  std::chrono::steady_clock::time_point started_;
  std::chrono::steady_clock::time_point drawn_{};
  bool shown_ = false;
};

}  // namespace jobqueue::cli
