// Binds dotted config keys ("flatquant.epochs") to fields of plain config structs, so that the structs own
// the defaults (STYLE.md 9) and YAML files, `--set key=value` overrides, the effective-config dump and
// `--help` all go through one table. Unknown keys, wrong types and out-of-range values are errors naming
// the key and where it came from.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

namespace YAML {
class Node;
}

namespace fq::pipelines {

class ConfigSchema {
 public:
  void add(const std::string& key, std::string* field, const std::string& help,
           std::vector<std::string> choices = {});
  // A filesystem path: relative paths in a YAML file resolve against the file's directory, relative
  // paths from the command line against the working directory.
  void add_path(const std::string& key, std::string* field, const std::string& help);
  void add(const std::string& key, int64_t* field, const std::string& help, int64_t min, int64_t max);
  void add(const std::string& key, double* field, const std::string& help, double min, double max);
  void add(const std::string& key, bool* field, const std::string& help);
  void add(const std::string& key, std::vector<int64_t>* field, const std::string& help);

  // Applies every leaf of `root` (nested maps); `source` names the file in errors; `base_dir` resolves paths.
  void load_yaml(const YAML::Node& root, const std::string& source, const std::string& base_dir);
  // Applies one `key=value` override (value parsed as a YAML scalar or flow sequence).
  void set(const std::string& assignment, const std::string& source);

  // The current values as a YAML document (nested maps, keys in registration order).
  std::string to_yaml() const;
  // One line per key: key, current (default) value, help.
  std::string describe() const;
  bool has(const std::string& key) const;

 private:
  struct Field {
    std::string help;
    std::function<void(const YAML::Node&, const std::string& where, const std::string& base_dir)> assign;
    std::function<std::string()> to_text;  // as a YAML scalar / flow sequence
  };
  Field& insert(const std::string& key, Field field);
  void assign(const std::string& key, const YAML::Node& value, const std::string& source, const std::string& base_dir);
  std::vector<std::string> order_;
  std::map<std::string, Field> fields_;
};

}  // namespace fq::pipelines
