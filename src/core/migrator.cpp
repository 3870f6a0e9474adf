#include "core/migrator.hpp"

#include <algorithm>
#include <cctype>
#include <map>
#include <stdexcept>

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

MigrationReport Migrator::Migrate(pg::Connection& conn) {
  // The lock belongs to this session: a crash of this process releases it.
  conn.Exec("migrations_lock");
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
    conn.InTransaction([&](pqxx::work& tx) {
      tx.exec(migration.file.text);
      return tx.exec_prepared("migrations_record", migration.version, migration.file.name, checksum);
    });
    spdlog::info("migrate: applied {}", migration.file.name);
    report.applied.push_back(migration.file.name);
  }
  report.to_version = std::max(report.from_version, LatestVersion());
  if (report.applied.empty()) report.to_version = report.from_version;
  return report;
}

}  // namespace jobqueue::core
