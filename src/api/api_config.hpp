#pragma once
// ApiConfig: everything jobqueue-api can be told, with its defaults. main()
// fills it from the environment (ReadApiConfig); tests fill it directly.
#include <cstddef>
#include <cstdint>
#include <string>

#include "core/env.hpp"
#include "core/log.hpp"

namespace jobqueue::api {

struct ApiConfig {
  std::string dsn;                 // DATABASE_URL; empty: libpq's PG* variables
  std::string bind_address = "0.0.0.0";  // API_BIND_ADDRESS; tests use 127.0.0.1
  int port = 8080;                 // API_PORT; 0: any free port (see ApiServer::port())
  std::string secret_key;          // API_SECRET_KEY; non-empty: /v1 needs "Authorization: Bearer <key>"
  int db_pool_size = 8;            // API_DB_POOL_SIZE: sessions, and threads running database work
  double db_wait_seconds = 5;      // API_DB_WAIT_SECONDS: longest a request waits for a session; then 503
  int threads = 2;                 // API_THREADS: HTTP threads (parsing, validation, answers)
  std::size_t max_body_bytes = 1 << 20;  // API_MAX_BODY_BYTES: larger bodies get 413 unread
  int max_batch_jobs = 1000;       // API_MAX_BATCH_JOBS: most jobs in one POST /v1/jobs/batch
  std::size_t max_upload_bytes = 20u << 20;  // MAX_UPLOAD_BYTES: largest image POST /v1/images and /upload take
  std::int64_t max_image_pixels = 50'000'000; // MAX_IMAGE_PIXELS: largest width * height taken, read from the header
  double upload_wait_seconds = 30; // UPLOAD_WAIT_SECONDS: how long POST /upload waits for its job to finish
  double upload_poll_seconds = 0.1;  // how often waiting uploads look at their jobs (one query for all)
  double depth_refresh_seconds = 5;  // API_DEPTH_REFRESH_SECONDS: job_queue_depth read at most this often
  bool access_log = true;          // one log line per request (info level)
  core::LogConfig log;             // LOG_LEVEL, LOG_FORMAT (json by default)
};

// Reads the variables named above. Throws ConfigError naming the variable.
ApiConfig ReadApiConfig(const core::Env& env);

}  // namespace jobqueue::api
