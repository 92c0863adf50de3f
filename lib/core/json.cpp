#include "lib/core/json.h"

#include "lib/core/atomic_file.h"

namespace fq {

Json read_json_file(const std::string& path) {
  std::string text = read_file(path);
  try {
    return Json::parse(text);
  } catch (const nlohmann::json::parse_error& e) {
    throw Error(str("'", path, "' is not valid JSON: ", e.what()));
  }
}

void write_json_file_atomic(const std::string& path, const Json& value) {
  write_file_atomic(path, value.dump(2) + "\n");
}

}  // namespace fq
