#include "api/api_config.hpp"

namespace jobqueue::api {

ApiConfig ReadApiConfig(const core::Env& env) {
  ApiConfig c;
  c.dsn = env.String("DATABASE_URL", "");
  c.bind_address = env.String("API_BIND_ADDRESS", c.bind_address);
  c.port = static_cast<int>(env.Int("API_PORT", c.port, 0, 65535));
  c.secret_key = env.String("API_SECRET_KEY", "");
  c.db_pool_size = static_cast<int>(env.Int("API_DB_POOL_SIZE", c.db_pool_size, 1, 256));
  c.db_wait_seconds = env.Double("API_DB_WAIT_SECONDS", c.db_wait_seconds, 0.01, 600);
  c.threads = static_cast<int>(env.Int("API_THREADS", c.threads, 1, 256));
  // At least 1 KiB (a job needs a few hundred bytes), at most 1 GiB.
  c.max_body_bytes =
      static_cast<std::size_t>(env.Int("API_MAX_BODY_BYTES", static_cast<long long>(c.max_body_bytes), 1024, 1LL << 30));
  c.max_batch_jobs = static_cast<int>(env.Int("API_MAX_BATCH_JOBS", c.max_batch_jobs, 1, 100000));
  c.max_upload_bytes = static_cast<std::size_t>(
      env.Int("MAX_UPLOAD_BYTES", static_cast<long long>(c.max_upload_bytes), 1024, 1LL << 30));
  c.max_image_pixels = env.Int("MAX_IMAGE_PIXELS", c.max_image_pixels, 1, 1LL << 32);
  c.upload_wait_seconds = env.Double("UPLOAD_WAIT_SECONDS", c.upload_wait_seconds, 0, 3600);
  c.depth_refresh_seconds = env.Double("API_DEPTH_REFRESH_SECONDS", c.depth_refresh_seconds, 0, 3600);
  c.log.level = env.String("LOG_LEVEL", "info");
  core::ParseLogLevel(c.log.level);  // refuse a bad level here, naming LOG_LEVEL
  c.log.format = core::ParseLogFormat(env.String("LOG_FORMAT", "json"));
  c.log.component = "api";
  return c;
}

}  // namespace jobqueue::api
