// Catch2's main for every test binary. The throwaway PostgreSQL server (see
// pg_fixture.hpp) is stopped and removed when the run ends.
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>

#include "support/pg_fixture.hpp"

int main(int argc, char** argv) {
  const int failures = Catch::Session().run(argc, argv);
  jobqueue::testing::TestServer::Shutdown();
  return failures;
}
