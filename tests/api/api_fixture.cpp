#include "api/api_fixture.hpp"

#include <spdlog/spdlog.h>

namespace jobqueue::testing {

ApiFixture::ApiFixture(const std::function<void(api::ApiConfig&)>& adjust) {
  spdlog::set_level(spdlog::level::warn);
  config_.dsn = db_.dsn();
  config_.bind_address = "127.0.0.1";
  config_.port = 0;
  config_.db_pool_size = 4;
  config_.threads = 2;
  config_.access_log = false;
  config_.depth_refresh_seconds = 0;  // tests read fresh depths
  if (adjust) adjust(config_);
  server_ = std::make_unique<api::ApiServer>(config_, metrics_);
  server_->Start();
}

ApiFixture::~ApiFixture() { server_->Stop(); }

}  // namespace jobqueue::testing
