#include "core/sql_catalog.hpp"

#include <sstream>
#include <stdexcept>

namespace jobqueue::core {
namespace {

bool IsBlankOrComment(const std::string& line) {
  const auto first = line.find_first_not_of(" \t\r");
  return first == std::string::npos || line.compare(first, 2, "--") == 0;
}

}  // namespace

std::map<std::string, std::string> ParseStatements(const std::vector<SqlFile>& files) {
  static const std::string kHeader = "-- name: ";
  std::map<std::string, std::string> statements;
  for (const auto& file : files) {
    std::istringstream in(file.text);
    std::string line;
    std::string current;
    while (std::getline(in, line)) {
      if (line.rfind(kHeader, 0) == 0) {
        current = line.substr(kHeader.size());
        current.erase(current.find_last_not_of(" \t\r") + 1);
        if (current.empty() || !statements.emplace(current, "").second) {
          throw std::logic_error(file.name + ": empty or duplicate statement name '" + current + "'");
        }
        continue;
      }
      if (current.empty()) {
        if (!IsBlankOrComment(line)) {
          throw std::logic_error(file.name + ": SQL before the first '-- name:' header");
        }
        continue;
      }
      statements[current] += line + "\n";
    }
  }
  return statements;
}

const std::map<std::string, std::string>& Statements() {
  static const auto statements = ParseStatements(EmbeddedStatementFiles());
  return statements;
}

}  // namespace jobqueue::core
