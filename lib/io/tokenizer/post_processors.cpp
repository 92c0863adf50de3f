#include "lib/io/tokenizer/post_processors.h"

namespace fq::io::tok {
namespace {

// The single-sequence template, reduced to what it does to one sequence of ids.
class TemplatePostProcessor final : public PostProcessor {
 public:
  TemplatePostProcessor(std::vector<int32_t> prefix, std::vector<int32_t> suffix)
      : prefix_(std::move(prefix)), suffix_(std::move(suffix)) {}
  void process(std::vector<int32_t>* ids, bool add_special_tokens) const override {
    if (!add_special_tokens) return;
    ids->insert(ids->begin(), prefix_.begin(), prefix_.end());
    ids->insert(ids->end(), suffix_.begin(), suffix_.end());
  }
  std::vector<int32_t> prefix_ids() const override { return prefix_; }
  std::vector<int32_t> suffix_ids() const override { return suffix_; }

 private:
  std::vector<int32_t> prefix_;
  std::vector<int32_t> suffix_;
};

// ByteLevel only trims offsets, which flatquant does not track.
class IdentityPostProcessor final : public PostProcessor {
 public:
  void process(std::vector<int32_t>*, bool) const override {}
};

class SequencePostProcessor final : public PostProcessor {
 public:
  explicit SequencePostProcessor(std::vector<std::unique_ptr<PostProcessor>> steps) : steps_(std::move(steps)) {}
  void process(std::vector<int32_t>* ids, bool add_special_tokens) const override {
    for (const auto& step : steps_) step->process(ids, add_special_tokens);
  }
  std::vector<int32_t> prefix_ids() const override {
    std::vector<int32_t> prefix;
    for (const auto& step : steps_) {
      std::vector<int32_t> p = step->prefix_ids();
      prefix.insert(prefix.begin(), p.begin(), p.end());  // later steps wrap earlier ones
    }
    return prefix;
  }
  std::vector<int32_t> suffix_ids() const override {
    std::vector<int32_t> suffix;
    for (const auto& step : steps_) {
      std::vector<int32_t> s = step->suffix_ids();
      suffix.insert(suffix.end(), s.begin(), s.end());
    }
    return suffix;
  }

 private:
  std::vector<std::unique_ptr<PostProcessor>> steps_;
};

std::unique_ptr<PostProcessor> parse_template(const Json& node, const JsonField& field) {
  const Json& single = field.child(node, "single");
  const JsonField single_field = field / "single";
  FQ_CHECK(single.is_array(), single_field.where(), ": expected an array of pieces");
  const Json& special_tokens = field.child(node, "special_tokens");
  std::vector<int32_t> prefix, suffix;
  bool seen_sequence = false;
  for (std::size_t i = 0; i < single.size(); ++i) {
    const Json& piece = single[i];
    const JsonField piece_field = single_field[i];
    if (piece.contains("Sequence")) {
      const std::string id = (piece_field / "Sequence").get<std::string>(piece["Sequence"], "id");
      FQ_CHECK(id == "A" && !seen_sequence, piece_field.where(),
               ": a single-sequence template must contain $A exactly once, got '", id, "'");
      seen_sequence = true;
      continue;
    }
    FQ_CHECK(piece.contains("SpecialToken"), piece_field.where(),
             ": expected {\"Sequence\": ...} or {\"SpecialToken\": ...}, got ", piece.dump());
    const std::string name = (piece_field / "SpecialToken").get<std::string>(piece["SpecialToken"], "id");
    const JsonField token_field = field / "special_tokens" / name;
    FQ_CHECK(special_tokens.contains(name), token_field.where(), ": the template uses '", name,
             "' but special_tokens does not define it");
    const Json& ids = token_field.child(special_tokens[name], "ids");
    FQ_CHECK(ids.is_array(), (token_field / "ids").where(), ": expected an array of ids");
    for (const Json& id : ids) {
      FQ_CHECK(id.is_number_integer() && id.get<int64_t>() >= 0, (token_field / "ids").where(),
               ": expected non-negative integer ids, got ", id.dump());
      (seen_sequence ? suffix : prefix).push_back(static_cast<int32_t>(id.get<int64_t>()));
    }
  }
  FQ_CHECK(seen_sequence, single_field.where(), ": the template has no $A");
  return std::make_unique<TemplatePostProcessor>(std::move(prefix), std::move(suffix));
}

}  // namespace

std::unique_ptr<PostProcessor> parse_post_processor(const Json& node, const JsonField& field) {
  if (node.is_null()) return nullptr;
  const std::string type = field.get<std::string>(node, "type");
  if (type == "TemplateProcessing") return parse_template(node, field);
  if (type == "ByteLevel") return std::make_unique<IdentityPostProcessor>();
  if (type == "Sequence") {
    return std::make_unique<SequencePostProcessor>(
        parse_component_list<PostProcessor>(node, "processors", field, parse_post_processor));
  }
  throw Error(str(field.where(), ": unsupported post_processor type '", type,
                  "' (supported: TemplateProcessing, ByteLevel, Sequence)"));
}

std::unique_ptr<PostProcessor> make_bos_eos_template(std::vector<int32_t> prefix, std::vector<int32_t> suffix) {
  return std::make_unique<TemplatePostProcessor>(std::move(prefix), std::move(suffix));
}

}  // namespace fq::io::tok
