#include "cli/job_commands.hpp"

#include <unistd.h>

#include <chrono>
#include <fstream>
#include <iostream>
#include <sstream>
#include <thread>

#include "cli/terminal.hpp"
#include "core/errors.hpp"
#include "images/image_format.hpp"
#include "images/image_meta.hpp"

namespace jobqueue::cli {
namespace {

// Ordered: --json prints the API's fields in the API's order.
using json = nlohmann::ordered_json;

std::string Text(const json& value) {
  if (value.is_null()) return "";
  if (value.is_string()) return value.get<std::string>();
  return value.dump();
}

void PrintJson(const json& doc) { std::cout << doc.dump(2) << "\n"; }

std::string Path(long long id, const std::string& tail = "") { return "/v1/jobs/" + std::to_string(id) + tail; }

bool Terminal(const std::string& state) { return state == "succeeded" || state == "dead" || state == "cancelled"; }

// One job's fields, one per line, as `show` and `wait` print them.
void PrintJob(const json& job) {
  Table t({"field", "value"});
  const auto state = job.value("state", "");
  t.Add({"id", Text(job["id"])});
  t.Add({"kind", Text(job["kind"])});
  t.Add({"queue", Text(job["queue"])});
  t.Add({"state", StateColoured(state)});
  t.Add({"attempts", Text(job["attempts"]) + " of " + Text(job["max_attempts"])});
  t.Add({"priority", Text(job["priority"])});
  t.Add({"created", RelativeTime(Text(job["created_at"])) + "  (" + Text(job["created_at"]) + ")"});
  t.Add({"run at", RelativeTime(Text(job["run_at"]))});
  t.Add({"started", RelativeTime(Text(job["started_at"]))});
  t.Add({"finished", RelativeTime(Text(job["finished_at"]))});
  if (!job["lease_owner"].is_null()) {
    t.Add({state == "running" ? "worker" : "processed by", Text(job["lease_owner"])});
  }
  if (!job["lease_expires_at"].is_null() && state == "running") {
    t.Add({"lease expires", RelativeTime(Text(job["lease_expires_at"]))});
  }
  if (!job["last_error"].is_null()) t.Add({"last error", Text(job["last_error"])});
  if (!job["idempotency_key"].is_null()) t.Add({"idempotency key", Text(job["idempotency_key"])});
  t.Add({"payload", job["payload"].dump()});
  if (!job["result"].is_null()) t.Add({"result", job["result"].dump()});
  const std::string rendered = t.Render();
  std::cout << rendered.substr(rendered.find('\n') + 1);  // no header row: it is a record
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw InvalidArgument(path + ": cannot read it");
  std::ostringstream bytes;
  bytes << in.rdbuf();
  return bytes.str();
}

json ParsePayload(const std::string& text) {
  if (text.empty()) return json::object();
  auto doc = json::parse(text, nullptr, false);
  if (doc.is_discarded()) throw InvalidArgument("PAYLOAD: not valid JSON", "payload");
  return doc;
}

// Sends `jobs` as one batch (all or nothing). A refusal naming jobs[i]
// becomes the file line of job i.
std::size_t SendBatch(const ApiClient& api, const json& jobs, const std::vector<std::size_t>& lines,
                      const std::string& file) {
  try {
    const auto answer = api.Json("POST", "/v1/jobs/batch", json{{"jobs", jobs}});
    return answer.value("created", std::size_t{0});
  } catch (const ApiError& e) {
    std::size_t index = 0;
    if (e.field.rfind("jobs[", 0) == 0 && std::sscanf(e.field.c_str(), "jobs[%zu]", &index) == 1 &&
        index < lines.size()) {
      throw InvalidArgument(file + " line " + std::to_string(lines[index]) + ": " + e.what() +
                            " (nothing from line " + std::to_string(lines.front()) + " on was enqueued)");
    }
    throw;
  }
}

int EnqueueFile(const ApiClient& api, const EnqueueOptions& o) {
  std::ifstream file_stream;
  std::istream* in = &std::cin;
  std::size_t total = 0;
  if (o.file != "-") {
    file_stream.open(o.file);
    if (!file_stream) throw InvalidArgument(o.file + ": cannot read it");
    std::string line;
    while (std::getline(file_stream, line)) total += line.find_first_not_of(" \t\r") != std::string::npos;
    file_stream.clear();
    file_stream.seekg(0);
    in = &file_stream;
  }
  Progress progress(total, IsTerminal(STDERR_FILENO) && !o.json);
  const auto started = std::chrono::steady_clock::now();
  std::size_t sent = 0, created = 0, line_number = 0;
  json batch = json::array();
  std::vector<std::size_t> lines;
  auto flush = [&] {
    if (batch.empty()) return;
    created += SendBatch(api, batch, lines, o.file);
    sent += batch.size();
    batch = json::array();
    lines.clear();
    progress.Update(sent);
  };
  std::string line;
  try {
    while (std::getline(*in, line)) {
      ++line_number;
      if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
      auto job = json::parse(line, nullptr, false);
      if (job.is_discarded() || !job.is_object()) {
        throw InvalidArgument(o.file + " line " + std::to_string(line_number) + ": not a JSON object" +
                              (lines.empty() ? "" : " (nothing from line " + std::to_string(lines.front()) +
                                                        " on was enqueued)"));
      }
      if (!o.queue.empty() && !job.contains("queue")) job["queue"] = o.queue;
      batch.push_back(std::move(job));
      lines.push_back(line_number);
      if (batch.size() >= o.batch_size) flush();
    }
    flush();
  } catch (...) {
    progress.Finish();
    if (sent > 0) std::cerr << "jobqueue enqueue: " << sent << " jobs before the error were enqueued\n";
    throw;
  }
  progress.Finish();
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  if (o.json) {
    PrintJson({{"sent", sent}, {"created", created}, {"seconds", seconds}});
  } else {
    char rate[32];
    std::snprintf(rate, sizeof rate, "%.0f", seconds > 0 ? sent / seconds : 0.0);
    std::cout << "enqueued " << sent << " jobs (" << created << " new, " << sent - created
              << " matched an idempotency key) in " << Duration(seconds) << ", " << rate << " jobs/s\n";
  }
  return 0;
}

}  // namespace

int EnqueueCommand(const ApiClient& api, const EnqueueOptions& o) {
  if (!o.file.empty()) {
    if (!o.kind.empty()) throw InvalidArgument("give KIND or --file, not both");
    return EnqueueFile(api, o);
  }
  if (o.kind.empty()) throw InvalidArgument("KIND is required (or --file FILE)");
  json body = {{"kind", o.kind}, {"payload", ParsePayload(o.payload)}};
  if (!o.queue.empty()) body["queue"] = o.queue;
  if (o.priority) body["priority"] = *o.priority;
  if (o.delay_seconds) body["delay_seconds"] = *o.delay_seconds;
  if (o.max_attempts) body["max_attempts"] = *o.max_attempts;
  if (!o.key.empty()) body["idempotency_key"] = o.key;
  const auto r = api.Send("POST", "/v1/jobs", body.dump(), "application/json");
  ApiClient::Check(r);
  const auto job = json::parse(r.body);
  if (o.json) {
    PrintJson(job);
  } else {
    std::cout << (r.status == 201 ? "enqueued job " : "job already enqueued with that key: ") << Text(job["id"])
              << " (" << Text(job["kind"]) << " on " << Text(job["queue"]) << ", " << Text(job["state"]) << ")\n";
  }
  return 0;
}

namespace {

struct Waited {
  json job;     // as last seen
  bool ended;   // false: the timeout passed first
};

// Polls job `id` until it has ended, or `timeout_seconds` (> 0) passes.
Waited WaitForEnd(const ApiClient& api, long long id, double timeout_seconds, double interval_seconds) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(timeout_seconds);
  for (;;) {
    auto job = api.Json("GET", Path(id));
    if (Terminal(job.value("state", ""))) return {std::move(job), true};
    if (timeout_seconds > 0 && std::chrono::steady_clock::now() >= deadline) return {std::move(job), false};
    std::this_thread::sleep_for(std::chrono::duration<double>(interval_seconds));
  }
}

// What `wait` prints and returns for a job that did not succeed in time.
int ReportUnsucceeded(const Waited& w, const char* command, long long id, double timeout_seconds, bool as_json) {
  if (as_json) {
    PrintJson(w.job);
  } else if (w.ended) {
    PrintJob(w.job);
  }
  if (w.ended) return kExitJobFailed;
  std::cerr << "jobqueue " << command << ": job " << id << " is still " << w.job.value("state", "") << " after "
            << Duration(timeout_seconds) << "\n";
  return kExitTimedOut;
}

bool Succeeded(const Waited& w) { return w.ended && w.job.value("state", "") == "succeeded"; }

}  // namespace

int WaitCommand(const ApiClient& api, const WaitOptions& o) {
  const auto w = WaitForEnd(api, o.id, o.timeout_seconds, o.interval_seconds);
  if (!Succeeded(w)) return ReportUnsucceeded(w, "wait", o.id, o.timeout_seconds, o.json);
  if (o.json) {
    PrintJson(w.job);
  } else {
    PrintJob(w.job);
  }
  return 0;
}

int ImageCommand(const ApiClient& api, const ImageOptions& o) {
  const std::string bytes = ReadFile(o.file);
  const auto format = images::SniffFormat(bytes);
  if (!format) throw InvalidArgument(o.file + ": not a JPEG, PNG or WebP image", "file");
  std::string path = "/v1/images?ops=" + UrlEncode(o.ops);
  if (!o.queue.empty()) path += "&queue=" + UrlEncode(o.queue);
  const auto r = api.Send("POST", path, bytes, images::ContentType(*format));
  ApiClient::Check(r);
  const auto answer = json::parse(r.body);
  const long long id = answer.at("id").get<long long>();
  if (!o.wait && o.output.empty()) {
    if (o.json) {
      PrintJson(answer);
    } else {
      std::cout << "uploaded " << o.file << " as job " << id << "; when done: " << api.base_url()
                << Text(answer["view_url"]) << "\n";
    }
    return 0;
  }
  const auto w = WaitForEnd(api, id, o.timeout_seconds, 0.5);
  if (!Succeeded(w)) return ReportUnsucceeded(w, "image", id, o.timeout_seconds, o.json);
  const auto& job = w.job;
  std::string saved;
  if (!o.output.empty()) {
    const auto result = api.Send("GET", Path(id, "/result"));
    ApiClient::Check(result);
    std::ofstream out(o.output, std::ios::binary);
    if (!out.write(result.body.data(), static_cast<std::streamsize>(result.body.size())) || !out.flush()) {
      throw std::runtime_error(o.output + ": cannot write it");
    }
    saved = o.output;
  }
  if (o.json) {
    PrintJson(job);
  } else {
    const auto& result = job["result"];
    std::cout << "job " << id << " " << StateColoured("succeeded") << " on " << Text(job["processed_by"]);
    if (result.is_object()) {
      std::cout << ": " << Text(result["width"]) << "x" << Text(result["height"]) << " " << Text(result["format"])
                << ", " << Text(result["bytes"]) << " bytes";
    }
    std::cout << "\n";
    if (!saved.empty()) std::cout << "saved " << saved << "\n";
    std::cout << "view: " << api.base_url() << "/image/" << id << "\n";
  }
  return 0;
}

int StatusCommand(const ApiClient& api, const StatusOptions& o) {
  const bool redraw = o.watch && IsTerminal(STDOUT_FILENO) && !o.json;
  for (;;) {
    const auto doc = api.Json("GET", "/v1/queues");
    if (o.json) {
      std::cout << doc.dump() << "\n" << std::flush;
    } else {
      Table t({"queue", "due", "queued", "running", "succeeded", "dead", "cancelled", "done/min", "oldest due"});
      for (const auto& q : doc.at("queues")) {
        const auto& s = q.at("states");
        const auto& age = q["oldest_queued_age_seconds"];
        t.Add({Text(q["queue"]), Text(q["depth"]), Text(s["queued"]), Text(s["running"]), Text(s["succeeded"]),
               Text(s["dead"]), Text(s["cancelled"]), Text(q.value("succeeded_last_minute", json(0))),
               age.is_null() ? "-" : Duration(age.get<double>())});
      }
      if (redraw) std::cout << "\033[H\033[2J";
      if (doc.at("queues").empty()) {
        std::cout << "no jobs yet\n";
      } else {
        std::cout << t.Render();
      }
      if (o.watch) std::cout << (redraw ? "\nevery " + Duration(o.interval_seconds) + ", Ctrl-C to stop\n" : "\n");
      std::cout << std::flush;
    }
    if (!o.watch) return 0;
    std::this_thread::sleep_for(std::chrono::duration<double>(o.interval_seconds));
  }
}

int JobsCommand(const ApiClient& api, const JobsOptions& o) {
  std::string query = "?limit=" + std::to_string(std::min(o.limit, 100));
  if (!o.state.empty()) query += "&state=" + UrlEncode(o.state);
  if (!o.queue.empty()) query += "&queue=" + UrlEncode(o.queue);
  if (!o.kind.empty()) query += "&kind=" + UrlEncode(o.kind);
  json all = json::array();
  std::string after;
  while (static_cast<int>(all.size()) < o.limit) {
    const auto page = api.Json("GET", "/v1/jobs" + query + (after.empty() ? "" : "&after=" + UrlEncode(after)));
    for (const auto& job : page.at("jobs")) {
      if (static_cast<int>(all.size()) < o.limit) all.push_back(job);
    }
    if (page["next"].is_null()) break;
    after = page["next"].get<std::string>();
  }
  if (o.json) {
    PrintJson(all);
    return 0;
  }
  if (all.empty()) {
    std::cout << "no jobs\n";
    return 0;
  }
  Table t({"id", "kind", "queue", "state", "attempts", "created", "worker", "last error"});
  for (const auto& job : all) {
    std::string error = Text(job["last_error"]);
    if (error.size() > 60) error = error.substr(0, 57) + "...";
    t.Add({Text(job["id"]), Text(job["kind"]), Text(job["queue"]), StateColoured(Text(job["state"])),
           Text(job["attempts"]) + "/" + Text(job["max_attempts"]), RelativeTime(Text(job["created_at"])),
           Text(job["lease_owner"]), error});
  }
  std::cout << t.Render();
  return 0;
}

int ShowCommand(const ApiClient& api, long long id, bool json) {
  const auto job = api.Json("GET", Path(id));
  if (json) {
    PrintJson(job);
  } else {
    PrintJob(job);
  }
  return 0;
}

int TransitionCommand(const ApiClient& api, long long id, const std::string& action, bool json) {
  const auto job = api.Json("POST", Path(id, "/" + action));
  if (json) {
    PrintJson(job);
  } else {
    std::cout << (action == "cancel" ? "cancelled" : "retrying") << " job " << id << " (now "
              << StateColoured(Text(job["state"])) << ")\n";
  }
  return 0;
}

}  // namespace jobqueue::cli
