// jobqueue: the command-line tool. Arguments are parsed with CLI11; every
// command has --help. Commands that act on jobs talk to the REST API
// (JOBQUEUE_URL, JOBQUEUE_TOKEN); `migrate` and `dev` talk to the database
// (DATABASE_URL). Errors become exit codes (README, "CLI"):
//   0 ok, 1 failure, 2 usage or bad input, 3 schema mismatch,
//   4 database or API unreachable, 5 the job ended dead or cancelled,
//   6 `wait` timed out.
#include <iostream>

#include <CLI/CLI.hpp>
#include <spdlog/spdlog.h>

#include "cli/api_client.hpp"
#include "cli/commands.hpp"
#include "cli/job_commands.hpp"
#include "core/env.hpp"
#include "core/errors.hpp"
#include "core/log.hpp"

namespace {

using namespace jobqueue::cli;

void InitLogging(const std::string& component) {
  jobqueue::core::Env env;
  jobqueue::core::LogConfig log;
  log.level = env.String("LOG_LEVEL", "info");
  log.format = jobqueue::core::ParseLogFormat(env.String("LOG_FORMAT", "console"));
  log.component = component;
  jobqueue::core::InitLogging(log);
}

std::string FieldNote(const std::string& field) { return field.empty() ? "" : " [field: " + field + "]"; }

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"jobqueue: a PostgreSQL job queue. Commands that act on jobs use the REST API at JOBQUEUE_URL\n"
               "(default http://127.0.0.1:8080) with JOBQUEUE_TOKEN; migrate and dev use DATABASE_URL."};
  app.require_subcommand(1);
  app.set_help_all_flag("--help-all", "help for every command");
  int rc = 0;
  std::string command;

  bool print_schema = false;
  auto* migrate = app.add_subcommand("migrate", "apply pending migrations to DATABASE_URL");
  migrate->add_flag("--print", print_schema, "then print the schema's tables and views");
  migrate->callback([&] { rc = Migrate(print_schema); });

  std::optional<int> dev_workers;
  auto* dev = app.add_subcommand("dev", "the whole system on this machine: a private PostgreSQL (unless DATABASE_URL\n"
                                        "is set), the API, workers and a reaper, until Ctrl-C");
  dev->add_option("--workers", dev_workers, "worker processes (default WORKER_REPLICAS, else 2)")
      ->check(CLI::Range(0, 64));
  dev->callback([&] { rc = Dev(dev_workers); });

  EnqueueOptions enqueue_options;
  auto* enqueue = app.add_subcommand("enqueue", "enqueue a job, or every line of a JSON-lines file");
  enqueue->add_option("kind", enqueue_options.kind, "the job's kind (e.g. sleep, image.thumbnail)");
  enqueue->add_option("payload", enqueue_options.payload, "the payload as JSON (default {})");
  enqueue->add_option("--queue,-q", enqueue_options.queue, "queue (default: default)");
  enqueue->add_option("--priority,-p", enqueue_options.priority, "smaller runs first (default 0)");
  enqueue->add_option("--delay", enqueue_options.delay_seconds, "run after this many seconds")->check(CLI::NonNegativeNumber);
  enqueue->add_option("--max-attempts", enqueue_options.max_attempts, "attempts before dead (default 25)");
  enqueue->add_option("--key", enqueue_options.key, "idempotency key: the same key again returns the first job");
  enqueue->add_option("--file,-f", enqueue_options.file, "a JSON-lines file, one job object per line (- for stdin)");
  enqueue->add_option("--batch-size", enqueue_options.batch_size, "jobs per request with --file (default 500)")
      ->check(CLI::Range(1, 1000));
  enqueue->add_flag("--json", enqueue_options.json, "print the API's JSON");
  enqueue->callback([&] { rc = EnqueueCommand(ApiClient::FromEnvironment(), enqueue_options); });

  ImageOptions image_options;
  auto* image = app.add_subcommand("image", "upload an image with the operations to run on it");
  image->add_option("file", image_options.file, "a JPEG, PNG or WebP file")->required();
  image->add_option("--ops", image_options.ops, "e.g. thumbnail:256x256,grayscale (README, \"Image jobs\")")->required();
  image->add_option("--queue,-q", image_options.queue, "queue (default: default)");
  image->add_option("--output,-o", image_options.output, "save the result here (waits for it)");
  image->add_flag("--wait,-w", image_options.wait, "wait until the job has ended");
  image->add_option("--timeout", image_options.timeout_seconds, "longest wait in seconds (default 120)")
      ->check(CLI::PositiveNumber);
  image->add_flag("--json", image_options.json, "print the API's JSON");
  image->callback([&] { rc = ImageCommand(ApiClient::FromEnvironment(), image_options); });

  StatusOptions status_options;
  auto* status = app.add_subcommand("status", "depth per queue and state, jobs done in the last minute, oldest due job");
  status->add_flag("--watch,-w", status_options.watch, "refresh in place until Ctrl-C");
  status->add_option("--interval", status_options.interval_seconds, "seconds between refreshes (default 2)")
      ->check(CLI::PositiveNumber);
  status->add_flag("--json", status_options.json, "print the API's JSON");
  status->callback([&] { rc = StatusCommand(ApiClient::FromEnvironment(), status_options); });

  JobsOptions jobs_options;
  auto* jobs = app.add_subcommand("jobs", "list jobs, newest first");
  jobs->add_option("--state,-s", jobs_options.state, "queued, running, succeeded, dead or cancelled")
      ->check(CLI::IsMember({"queued", "running", "succeeded", "dead", "cancelled"}));
  jobs->add_option("--queue,-q", jobs_options.queue, "only this queue");
  jobs->add_option("--kind,-k", jobs_options.kind, "only this kind");
  jobs->add_option("--limit,-n", jobs_options.limit, "at most this many (default 20; pages through the API)")
      ->check(CLI::Range(1, 100000));
  jobs->add_flag("--json", jobs_options.json, "print the API's JSON (an array of jobs)");
  jobs->callback([&] { rc = JobsCommand(ApiClient::FromEnvironment(), jobs_options); });

  long long job_id = 0;
  bool job_json = false;
  auto* show = app.add_subcommand("show", "one job: state, attempts, times, worker, error, result");
  show->add_option("id", job_id, "the job's id")->required()->check(CLI::PositiveNumber);
  show->add_flag("--json", job_json, "print the API's JSON");
  show->callback([&] { rc = ShowCommand(ApiClient::FromEnvironment(), job_id, job_json); });
  for (const char* action : {"cancel", "retry"}) {
    auto* sub = app.add_subcommand(action, std::string(action) == "cancel"
                                               ? "cancel a queued or running job (409 otherwise)"
                                               : "queue a dead or cancelled job again (409 otherwise)");
    sub->add_option("id", job_id, "the job's id")->required()->check(CLI::PositiveNumber);
    sub->add_flag("--json", job_json, "print the API's JSON");
    sub->callback([&, action] { rc = TransitionCommand(ApiClient::FromEnvironment(), job_id, action, job_json); });
  }

  WaitOptions wait_options;
  auto* wait = app.add_subcommand("wait", "wait until a job has ended; exit 0 succeeded, 5 dead or cancelled, 6 timed out");
  wait->add_option("id", wait_options.id, "the job's id")->required()->check(CLI::PositiveNumber);
  wait->add_option("--timeout", wait_options.timeout_seconds, "give up after this many seconds (default: never)")
      ->check(CLI::PositiveNumber);
  wait->add_flag("--json", wait_options.json, "print the API's JSON");
  wait->callback([&] { rc = WaitCommand(ApiClient::FromEnvironment(), wait_options); });

  for (auto* sub : app.get_subcommands([](CLI::App*) { return true; })) {
    sub->parse_complete_callback([&command, sub] {
      command = sub->get_name();
      InitLogging(command);
    });
  }

  // CLI11 would only say a subcommand is required: name the unknown one.
  const auto known = app.get_subcommands([&](CLI::App* sub) { return argc > 1 && sub->check_name(argv[1]); });
  if (argc > 1 && argv[1][0] != '-' && known.empty()) {
    std::cerr << "jobqueue: unknown command '" << argv[1] << "'; run jobqueue --help for the list\n";
    return 2;
  }
  try {
    app.parse(argc, argv);
    return rc;
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);  // prints the help, or the error and a hint
    return code == 0 ? 0 : 2;
  } catch (const jobqueue::ConfigError& e) {
    std::cerr << "jobqueue " << command << ": configuration: " << e.what() << "\n";
    return 2;
  } catch (const jobqueue::InvalidArgument& e) {
    std::cerr << "jobqueue " << command << ": " << e.what() << "\n";
    return 2;
  } catch (const jobqueue::SchemaMismatch& e) {
    std::cerr << "jobqueue " << command << ": schema: " << e.what() << "\n";
    return 3;
  } catch (const jobqueue::Transient& e) {
    std::cerr << "jobqueue " << command << ": database unreachable: " << e.what() << "\n";
    return 4;
  } catch (const ApiUnreachable& e) {
    std::cerr << "jobqueue " << command << ": " << e.what() << "\n";
    return 4;
  } catch (const ApiError& e) {
    std::cerr << "jobqueue " << command << ": " << e.what() << FieldNote(e.field) << "\n";
    if (e.code == "schema_mismatch") return 3;
    return e.status == 400 || e.status == 413 || e.status == 415 ? 2 : 1;
  } catch (const std::exception& e) {
    std::cerr << "jobqueue " << command << ": " << e.what() << "\n";
    return 1;
  }
}
