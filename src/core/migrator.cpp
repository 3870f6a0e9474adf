#include "core/migrator.hpp"

#include <algorithm>
#include <cctype>
#include <map>
#include <sstream>
#include <stdexcept>
#include <thread>

#include <spdlog/spdlog.h>

#include "core/errors.hpp"

namespace jobqueue::core {

int Migrator::VersionOf(const std::string& file_name) {
  std::size_t digits = 0;
  while (digits < file_name.size() && std::isdigit(static_cast<unsigned char>(file_name[digits]))) {
    ++digits;
  }
  if (digits == 0 || digits > 9 || digits >= file_name.size() || file_name[digits] != '_') {
    throw std::logic_error("migration file '" + file_name + "' is not named NNNN_description.sql");
  }
  return std::stoi(file_name.substr(0, digits));
}

bool Migrator::IsNoTransaction(const SqlFile& file) {
  const std::string marker = "-- jobqueue:no-transaction";
  return file.text.compare(0, marker.size(), marker) == 0 &&
         (file.text.size() == marker.size() || file.text[marker.size()] == '\n' ||
          file.text[marker.size()] == '\r');
}

std::vector<std::string> Migrator::SplitStatements(const SqlFile& file) {
  if (file.text.find('$') != std::string::npos) {
    throw std::logic_error("no-transaction migration " + file.name +
                           " contains '$': $-quoted bodies and parameters are not split safely; "
                           "put them in a transactional file");
  }
  std::vector<std::string> statements;
  std::string current;
  bool has_code = false;
  std::istringstream in(file.text);
  std::string line;
  while (std::getline(in, line)) {
    current += line + "\n";
    const auto first = line.find_first_not_of(" \t\r");
    if (first == std::string::npos || line.compare(first, 2, "--") == 0) continue;
    has_code = true;
    const auto last = line.find_last_not_of(" \t\r");
    if (line[last] == ';') {
      statements.push_back(current);
      current.clear();
      has_code = false;
    }
  }
  if (has_code) {
    throw std::logic_error("no-transaction migration " + file.name +
                           ": text after the last line ending in ';'");
  }
  return statements;
}

Migrator::Migrator(std::vector<SqlFile> files) {
  for (auto& file : files) {
    const int version = VersionOf(file.name);
    migrations_.push_back({version, std::move(file)});
  }
  std::sort(migrations_.begin(), migrations_.end(),
            [](const Migration& a, const Migration& b) { return a.version < b.version; });
  for (std::size_t i = 1; i < migrations_.size(); ++i) {
    if (migrations_[i].version == migrations_[i - 1].version) {
      throw std::logic_error("two migrations share version " + std::to_string(migrations_[i].version));
    }
  }
}

int Migrator::LatestVersion() const { return migrations_.empty() ? 0 : migrations_.back().version; }

int Migrator::CurrentVersion(pg::Connection& conn) {
  if (!conn.Exec("migrations_table_exists")[0][0].as<bool>()) return 0;
  const auto rows = conn.Exec("migrations_applied");
  return rows.empty() ? 0 : rows[rows.size() - 1]["version"].as<int>();
}

void Migrator::ApplyWithoutTransaction(pg::Connection& conn, const SqlFile& file) {
  const auto statements = SplitStatements(file);
  // An interrupted CREATE INDEX CONCURRENTLY leaves an INVALID index that
  // IF NOT EXISTS would then take as done: drop the ones this file builds.
  for (const auto& row : conn.Exec("migrations_invalid_indexes")) {
    const std::string name = row["name"].c_str();
    if (file.text.find(name) == std::string::npos) continue;
    spdlog::warn("migrate: dropping invalid index {} left by an interrupted build; {} builds it again",
                 name, file.name);
    conn.Guard([&] {
      pqxx::nontransaction tx(conn.Raw());
      return tx.exec("DROP INDEX " + std::string(row["qualified"].c_str()));
    });
  }
  for (const auto& statement : statements) {
    conn.Guard([&] {
      pqxx::nontransaction tx(conn.Raw());
      return tx.exec(statement);
    });
  }
}

MigrationReport Migrator::Migrate(pg::Connection& conn) {
  // The lock belongs to this session: a crash of this process releases it.
  bool waiting_logged = false;
  while (!conn.Exec("migrations_try_lock")[0][0].as<bool>()) {
    if (!waiting_logged) spdlog::info("migrate: waiting for another migrator to finish");
    waiting_logged = true;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  struct Unlock {
    pg::Connection& conn;
    ~Unlock() {
      try {
        conn.Exec("migrations_unlock");
      } catch (const std::exception&) {
        conn.Reset();  // ending the session releases the lock too
      }
    }
  } unlock{conn};

  conn.Exec("migrations_create_schema");
  conn.Exec("migrations_create_table");

  std::map<int, std::string> recorded;  // version -> checksum
  MigrationReport report;
  for (const auto& row : conn.Exec("migrations_applied")) {
    const int version = row["version"].as<int>();
    const auto name = row["name"].as<std::string>();
    const auto checksum = row["checksum"].as<std::string>();
    recorded[version] = checksum;
    report.from_version = std::max(report.from_version, version);
    if (version > LatestVersion()) {
      throw SchemaMismatch("database is at migration " + std::to_string(version) + " (" + name +
                           "), newer than this binary, which knows up to " +
                           std::to_string(LatestVersion()) + "; upgrade the binary");
    }
    const auto known = std::find_if(migrations_.begin(), migrations_.end(),
                                    [&](const Migration& m) { return m.version == version; });
    if (known == migrations_.end()) {
      throw SchemaMismatch("database records migration " + name + ", which this binary lacks");
    }
    const auto expected = conn.Exec("migrations_checksum", known->file.text)[0][0].as<std::string>();
    if (expected != checksum || known->file.name != name) {
      throw SchemaMismatch("migration " + known->file.name + " differs from the one applied as " +
                           name + " (checksum " + checksum.substr(0, 12) + " recorded, " +
                           expected.substr(0, 12) +
                           " now): released migrations must never be edited; add a new file");
    }
  }

  for (const auto& migration : migrations_) {
    if (recorded.count(migration.version)) continue;
    const auto checksum =
        conn.Exec("migrations_checksum", migration.file.text)[0][0].as<std::string>();
    if (IsNoTransaction(migration.file)) {
      ApplyWithoutTransaction(conn, migration.file);
      conn.Exec("migrations_record", migration.version, migration.file.name, checksum);
    } else {
      conn.InTransaction([&](pqxx::work& tx) {
        tx.exec(migration.file.text);
        return tx.exec_prepared("migrations_record", migration.version, migration.file.name, checksum);
      });
    }
    spdlog::info("migrate: applied {}", migration.file.name);
    report.applied.push_back(migration.file.name);
  }
  report.to_version = std::max(report.from_version, LatestVersion());
  if (report.applied.empty()) report.to_version = report.from_version;
  return report;
}

}  // namespace jobqueue::core
