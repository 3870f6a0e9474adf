#pragma once
// The dashboard's static files (ui/), embedded at build time by
// cmake/embed_ui.cmake: the API binary serves them with no file on disk and
// nothing fetched from elsewhere.
#include <string>
#include <vector>

namespace jobqueue::api {

struct UiFile {
  const char* path;     // under ui/: "index.html", "pages/jobs.js"
  std::string content;
};

const std::vector<UiFile>& EmbeddedUiFiles();

}  // namespace jobqueue::api
