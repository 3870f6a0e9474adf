#include "cli/terminal.hpp"

#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <sstream>

namespace jobqueue::cli {
namespace {

std::string Color(const std::string& text, const char* code) {
  if (!UseColour()) return text;
  return std::string("\033[") + code + "m" + text + "\033[0m";
}

// Display width: UTF-8 continuation bytes take no column.
std::size_t Width(const std::string& text) {
  std::size_t n = 0;
  bool in_escape = false;
  for (const unsigned char c : text) {
    if (c == 0x1b) {
      in_escape = true;
    } else if (in_escape) {
      if (c == 'm') in_escape = false;
    } else if ((c & 0xC0) != 0x80) {
      ++n;
    }
  }
  return n;
}

std::string Thousands(std::size_t n) {
  std::string digits = std::to_string(n);
  for (int i = static_cast<int>(digits.size()) - 3; i > 0; i -= 3) digits.insert(static_cast<std::size_t>(i), ",");
  return digits;
}

}  // namespace

bool IsTerminal(int fd) { return ::isatty(fd) == 1; }

bool UseColour() {
  static const bool colour = [] {
    const char* no_colour = std::getenv("NO_COLOR");
    const char* term = std::getenv("TERM");
    return IsTerminal(STDOUT_FILENO) && (no_colour == nullptr || *no_colour == '\0') &&
           !(term != nullptr && std::strcmp(term, "dumb") == 0);
  }();
  return colour;
}

std::string StateColoured(const std::string& state) {
  if (state == "succeeded") return Color(state, "32");
  if (state == "dead") return Color(state, "31");
  if (state == "running") return Color(state, "36");
  if (state == "cancelled") return Color(state, "90");
  if (state == "queued") return Color(state, "33");
  return state;
}

std::string Bold(const std::string& text) { return Color(text, "1"); }

std::optional<double> ParseTimestamp(const std::string& text) {
  std::tm tm{};
  if (text.size() < 19 || !strptime(text.substr(0, 19).c_str(), "%Y-%m-%dT%H:%M:%S", &tm)) return std::nullopt;
  double seconds = static_cast<double>(timegm(&tm));
  if (text.size() > 20 && text[19] == '.') seconds += std::atof(("0" + text.substr(19)).c_str());
  return seconds;
}

std::string Duration(double seconds) {
  seconds = std::fabs(seconds);
  char buffer[64];
  if (seconds < 10) {
    std::snprintf(buffer, sizeof buffer, "%.1f s", seconds);
  } else if (seconds < 60) {
    std::snprintf(buffer, sizeof buffer, "%.0f s", seconds);
  } else if (seconds < 3600) {
    std::snprintf(buffer, sizeof buffer, "%d min %d s", static_cast<int>(seconds / 60), static_cast<int>(seconds) % 60);
  } else if (seconds < 86400) {
    std::snprintf(buffer, sizeof buffer, "%d h %d min", static_cast<int>(seconds / 3600),
                  static_cast<int>(seconds / 60) % 60);
  } else {
    std::snprintf(buffer, sizeof buffer, "%d d %d h", static_cast<int>(seconds / 86400),
                  static_cast<int>(seconds / 3600) % 24);
  }
  return buffer;
}

std::string RelativeTime(const std::string& timestamp) {
  if (timestamp.empty()) return "-";
  const auto at = ParseTimestamp(timestamp);
  if (!at) return timestamp;
  timespec now{};
  clock_gettime(CLOCK_REALTIME, &now);
  const double delta = static_cast<double>(now.tv_sec) + now.tv_nsec / 1e9 - *at;
  if (std::fabs(delta) < 1) return "just now";
  std::string text = Duration(delta);
  // Whole units read better in a list: "3 min ago", not "3 min 5 s ago".
  if (std::fabs(delta) >= 60) text = text.substr(0, text.find(' ', text.find(' ') + 1));
  return delta > 0 ? text + " ago" : "in " + text;
}

Table::Table(std::vector<std::string> header) { rows_.push_back(std::move(header)); }

void Table::Add(std::vector<std::string> row) { rows_.push_back(std::move(row)); }

std::string Table::Render() const {
  std::vector<std::size_t> widths;
  for (const auto& row : rows_) {
    if (row.size() > widths.size()) widths.resize(row.size(), 0);
    for (std::size_t i = 0; i < row.size(); ++i) widths[i] = std::max(widths[i], Width(row[i]));
  }
  std::ostringstream out;
  for (std::size_t r = 0; r < rows_.size(); ++r) {
    std::string line;
    for (std::size_t i = 0; i < rows_[r].size(); ++i) {
      const std::string cell = r == 0 ? Bold(rows_[r][i]) : rows_[r][i];
      line += cell;
      if (i + 1 < rows_[r].size()) line += std::string(widths[i] - Width(rows_[r][i]) + 2, ' ');
    }
    out << line << "\n";
  }
  return out.str();
}

Progress::Progress(std::size_t total, bool enabled)
    : total_(total), enabled_(enabled), started_(std::chrono::steady_clock::now()) {}

void Progress::Update(std::size_t done) {
  if (!enabled_) return;
  const auto now = std::chrono::steady_clock::now();
  if (shown_ && done < total_ && now - drawn_ < std::chrono::milliseconds(100)) return;
  drawn_ = now;
  shown_ = true;
  const double elapsed = std::chrono::duration<double>(now - started_).count();
  const double rate = elapsed > 0 ? done / elapsed : 0;
  std::string line = Thousands(done);
  if (total_ > 0) {
    line += " / " + Thousands(total_) + " (" + std::to_string(done * 100 / total_) + "%)";
  }
  char buffer[64];
  std::snprintf(buffer, sizeof buffer, "  %.0f jobs/s", rate);
  line += buffer;
  if (total_ > done && rate > 0) line += "  ETA " + Duration((total_ - done) / rate);
  std::fprintf(stderr, "\r\033[K%s", line.c_str());
  std::fflush(stderr);
}

void Progress::Finish() {
  if (enabled_ && shown_) std::fprintf(stderr, "\r\033[K");
}

}  // namespace jobqueue::cli
