#include "pipelines/config/config_schema.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <filesystem>
#include <sstream>

#include "lib/core/error.h"

namespace fq::pipelines {
namespace {

// Levenshtein distance, for "did you mean" hints on misspelled keys.
size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1)});
    }
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

template <typename T>
T scalar_as(const YAML::Node& node, const std::string& where, const char* type_name) {
  FQ_CHECK(node.IsScalar(), where, ": expected ", type_name, ", got a ", node.IsSequence() ? "list" : "map");
  try {
    return node.as<T>();
  } catch (const YAML::Exception&) {
    throw Error(str(where, ": expected ", type_name, ", got '", node.Scalar(), "'"));
  }
}

std::string resolve_path(const std::string& value, const std::string& base_dir) {
  if (value.empty()) return value;
  std::filesystem::path p(value);
  if (p.is_relative()) p = std::filesystem::path(base_dir.empty() ? "." : base_dir) / p;
  return std::filesystem::absolute(p).lexically_normal().string();
}

std::string format_double(double v) {
  std::ostringstream out;
  out.precision(10);
  out << v;
  std::string s = out.str();
  if (s.find_first_of(".eEni") == std::string::npos) s += ".0";
  return s;
}

}  // namespace

ConfigSchema::Field& ConfigSchema::insert(const std::string& key, Field field) {
  FQ_ASSERT(!fields_.count(key), "config key registered twice: ", key);
  order_.push_back(key);
  return fields_[key] = std::move(field);
}

void ConfigSchema::add(const std::string& key, std::string* field, const std::string& help,
                       std::vector<std::string> choices) {
  insert(key, {help,
               [field, choices](const YAML::Node& n, const std::string& where, const std::string&) {
                 std::string v = scalar_as<std::string>(n, where, "a string");
                 if (!choices.empty() && std::find(choices.begin(), choices.end(), v) == choices.end()) {
                   std::string all;
                   for (const auto& c : choices) all += (all.empty() ? "" : ", ") + c;
                   throw Error(str(where, ": '", v, "' is not one of: ", all));
                 }
                 *field = v;
               },
               [field] { return YAML::Dump(YAML::Node(*field)); }});
}

void ConfigSchema::add_path(const std::string& key, std::string* field, const std::string& help) {
  insert(key, {help,
               [field](const YAML::Node& n, const std::string& where, const std::string& base_dir) {
                 *field = resolve_path(scalar_as<std::string>(n, where, "a path"), base_dir);
               },
               [field] { return YAML::Dump(YAML::Node(*field)); }});
}

void ConfigSchema::add(const std::string& key, int64_t* field, const std::string& help, int64_t min, int64_t max) {
  insert(key, {help,
               [field, min, max](const YAML::Node& n, const std::string& where, const std::string&) {
                 int64_t v = scalar_as<int64_t>(n, where, "an integer");
                 FQ_CHECK(v >= min && v <= max, where, ": ", v, " is out of range [", min, ", ", max, "]");
                 *field = v;
               },
               [field] { return std::to_string(*field); }});
}

void ConfigSchema::add(const std::string& key, double* field, const std::string& help, double min, double max) {
  insert(key, {help,
               [field, min, max](const YAML::Node& n, const std::string& where, const std::string&) {
                 double v = scalar_as<double>(n, where, "a number");
                 FQ_CHECK(v >= min && v <= max, where, ": ", v, " is out of range [", min, ", ", max, "]");
                 *field = v;
               },
               [field] { return format_double(*field); }});
}

void ConfigSchema::add(const std::string& key, bool* field, const std::string& help) {
  insert(key, {help,
               [field](const YAML::Node& n, const std::string& where, const std::string&) {
                 *field = scalar_as<bool>(n, where, "true or false");
               },
               [field] { return std::string(*field ? "true" : "false"); }});
}

void ConfigSchema::add(const std::string& key, std::vector<int64_t>* field, const std::string& help) {
  insert(key, {help,
               [field](const YAML::Node& n, const std::string& where, const std::string&) {
                 std::vector<int64_t> v;
                 if (n.IsScalar()) {
                   v.push_back(scalar_as<int64_t>(n, where, "an integer list"));
                 } else {
                   FQ_CHECK(n.IsSequence(), where, ": expected a list of integers");
                   for (const auto& item : n) v.push_back(scalar_as<int64_t>(item, where, "an integer list"));
                 }
                 *field = v;
               },
               [field] {
                 std::string s = "[";
                 for (size_t i = 0; i < field->size(); ++i) s += (i ? ", " : "") + std::to_string((*field)[i]);
                 return s + "]";
               }});
}

bool ConfigSchema::has(const std::string& key) const { return fields_.count(key) > 0; }

void ConfigSchema::assign(const std::string& key, const YAML::Node& value, const std::string& source,
                          const std::string& base_dir) {
  auto it = fields_.find(key);
  if (it == fields_.end()) {
    std::string best;
    size_t best_d = 4;
    for (const auto& k : order_) {
      size_t d = edit_distance(key, k);
      if (d < best_d) best_d = d, best = k;
    }
    throw Error(str(source, ": unknown config key '", key, "'", best.empty() ? "" : " (did you mean '" + best + "'?)"));
  }
  it->second.assign(value, str(source, ": key '", key, "'"), base_dir);
}

void ConfigSchema::load_yaml(const YAML::Node& root, const std::string& source, const std::string& base_dir) {
  if (root.IsNull()) return;
  FQ_CHECK(root.IsMap(), source, ": the config must be a map of keys");
  std::function<void(const YAML::Node&, const std::string&)> walk = [&](const YAML::Node& node,
                                                                        const std::string& prefix) {
    for (const auto& kv : node) {
      const std::string key = prefix.empty() ? kv.first.as<std::string>() : prefix + "." + kv.first.as<std::string>();
      if (kv.second.IsMap() && !has(key)) {
        walk(kv.second, key);
      } else {
        assign(key, kv.second, source, base_dir);
      }
    }
  };
  walk(root, "");
}

void ConfigSchema::set(const std::string& assignment, const std::string& source) {
  const auto eq = assignment.find('=');
  FQ_CHECK(eq != std::string::npos && eq > 0, source, ": expected key=value, got '", assignment, "'");
  const std::string key = assignment.substr(0, eq);
  const std::string text = assignment.substr(eq + 1);
  YAML::Node value;
  try {
    value = text.empty() ? YAML::Node(std::string()) : YAML::Load(text);
  } catch (const YAML::Exception& e) {
    throw Error(str(source, ": cannot parse the value of '", key, "': ", e.what()));
  }
  if (value.IsNull()) value = YAML::Node(text);
  assign(key, value, source, std::filesystem::current_path().string());
}

std::string ConfigSchema::to_yaml() const {
  // Keys are dotted paths; emit them as nested maps in registration order.
  std::ostringstream out;
  std::vector<std::string> open;  // currently open section path
  for (const auto& key : order_) {
    std::vector<std::string> parts;
    std::stringstream ss(key);
    for (std::string p; std::getline(ss, p, '.');) parts.push_back(p);
    size_t common = 0;
    while (common < open.size() && common + 1 < parts.size() && open[common] == parts[common]) ++common;
    open.resize(common);
    for (size_t i = common; i + 1 < parts.size(); ++i) {
      out << std::string(2 * i, ' ') << parts[i] << ":\n";
      open.push_back(parts[i]);
    }
    out << std::string(2 * (parts.size() - 1), ' ') << parts.back() << ": " << fields_.at(key).to_text() << "\n";
  }
  return out.str();
}

std::string ConfigSchema::describe() const {
  std::ostringstream out;
  size_t width = 0;
  for (const auto& k : order_) width = std::max(width, k.size());
  for (const auto& k : order_) {
    const Field& f = fields_.at(k);
    std::string value = f.to_text();
    out << "  " << k << std::string(width - k.size() + 2, ' ') << f.help << " (default: " << value << ")\n";
  }
  return out.str();
}

}  // namespace fq::pipelines
