#include "lib/io/tokenizer.h"

#include <filesystem>
#include <unordered_set>

#include "lib/core/error.h"
#include "lib/core/json.h"
#include "lib/core/log.h"
#include "lib/io/tokenizer/added_vocabulary.h"
#include "lib/io/tokenizer/bpe_model.h"
#include "lib/io/tokenizer/decoders.h"
#include "lib/io/tokenizer/json_field.h"
#include "lib/io/tokenizer/normalizers.h"
#include "lib/io/tokenizer/post_processors.h"
#include "lib/io/tokenizer/pre_tokenizers.h"
#include "lib/io/tokenizer/utf8.h"

namespace fq::io {

using tok::JsonField;

struct Tokenizer::Impl {
  std::string path;
  std::unique_ptr<tok::Normalizer> normalizer;
  std::unique_ptr<tok::PreTokenizer> pre_tokenizer;
  std::unique_ptr<tok::BpeModel> model;
  std::unique_ptr<tok::PostProcessor> post_processor;
  std::unique_ptr<tok::Decoder> decoder;
  tok::AddedVocabulary added;
  std::unordered_set<std::string> special_contents;  // what decode(skip_special_tokens) drops
  int32_t bos = -1;
  int32_t eos = -1;

  static std::unique_ptr<Impl> parse(const std::string& path);
  void apply_tokenizer_config(const std::string& config_path);
  int64_t lookup(std::string_view token) const;
  void encode_gap(std::string_view raw, bool at_origin, std::vector<int32_t>* ids) const;
};

namespace {

const Json& member_or_null(const Json& obj, const char* key) {
  static const Json null_json;
  auto it = obj.find(key);
  return it == obj.end() ? null_json : *it;
}

// The single special token a template puts on one side of the text, or -1.
int32_t single_or_none(const std::vector<int32_t>& ids) { return ids.size() == 1 ? ids[0] : -1; }

// tokenizer_config.json names special tokens as a string or as {"content": ..., ...}.
std::string special_token_name(const Json& config, const char* key, const JsonField& field) {
  const Json& value = member_or_null(config, key);
  if (value.is_null()) return "";
  if (value.is_string()) return value.get<std::string>();
  return (field / key).get<std::string>(value, "content");
}

}  // namespace

std::unique_ptr<Tokenizer::Impl> Tokenizer::Impl::parse(const std::string& path) {
  const Json root = read_json_file(path);
  const JsonField top(path, "");
  FQ_CHECK(root.is_object(), top.where(), ": expected a JSON object at the top level");
  const std::string version = top.get_or<std::string>(root, "version", "1.0");
  FQ_CHECK(version == "1.0", (top / "version").where(), ": unknown tokenizer.json version '", version, "'");

  auto impl = std::make_unique<Tokenizer::Impl>();
  impl->path = path;
  impl->model = std::make_unique<tok::BpeModel>(top.child(root, "model"), top / "model");
  impl->normalizer = tok::parse_normalizer(member_or_null(root, "normalizer"), top / "normalizer");
  impl->pre_tokenizer = tok::parse_pre_tokenizer(member_or_null(root, "pre_tokenizer"), top / "pre_tokenizer");
  impl->post_processor = tok::parse_post_processor(member_or_null(root, "post_processor"), top / "post_processor");
  impl->decoder = tok::parse_decoder(member_or_null(root, "decoder"), top / "decoder");

  // Added tokens take the model's id when the model has the content, otherwise the next free id after
  // the model vocabulary, in file order (how HF assigns them; the file's "id" is only checked).
  const Json& added = member_or_null(root, "added_tokens");
  const JsonField added_field = top / "added_tokens";
  FQ_CHECK(added.is_null() || added.is_array(), added_field.where(), ": expected an array");
  int32_t next_id = static_cast<int32_t>(impl->model->vocab_entries());
  for (std::size_t i = 0; !added.is_null() && i < added.size(); ++i) {
    const Json& entry = added[i];
    const JsonField field = added_field[i];
    tok::AddedToken token;
    token.content = field.get<std::string>(entry, "content");
    token.special = field.get_or<bool>(entry, "special", false);
    token.normalized = field.get_or<bool>(entry, "normalized", true);
    for (const char* unsupported : {"lstrip", "rstrip", "single_word"}) {
      FQ_CHECK(!field.get_or<bool>(entry, unsupported, false), (field / unsupported).where(), ": added token '",
               token.content, "' uses ", unsupported, ", which flatquant does not support");
    }
    if (token.content.empty() || impl->added.token_to_id(token.content)) continue;  // HF ignores these too
    auto model_id = impl->model->token_to_id(token.content);
    token.id = model_id ? *model_id : next_id++;
    const int64_t file_id = field.get<int64_t>(entry, "id");
    if (file_id != token.id) {
      log::warn("tokenizer", "added token id differs from the file; using the id HF tokenizers assigns",
                {{"file", path},
                 {"token", token.content},
                 {"file_id", static_cast<long long>(file_id)},
                 {"id", static_cast<long long>(token.id)}});
    }
    std::string match_content = token.content;
    if (token.normalized && impl->normalizer) impl->normalizer->normalize(&match_content);
    impl->added.add(token, match_content);
    if (token.special) impl->special_contents.insert(token.content);
  }

  if (impl->post_processor) {
    impl->bos = single_or_none(impl->post_processor->prefix_ids());
    impl->eos = single_or_none(impl->post_processor->suffix_ids());
  }
  return impl;
}

int64_t Tokenizer::Impl::lookup(std::string_view token) const {
  if (auto id = added.token_to_id(token)) return *id;
  if (auto id = model->token_to_id(token)) return *id;
  return -1;
}

void Tokenizer::Impl::apply_tokenizer_config(const std::string& config_path) {
  const Json config = read_json_file(config_path);
  const JsonField top(config_path, "");
  FQ_CHECK(config.is_object(), top.where(), ": expected a JSON object at the top level");
  for (auto [key, slot] : {std::pair<const char*, int32_t*>{"bos_token", &bos}, {"eos_token", &eos}}) {
    const std::string name = special_token_name(config, key, top);
    if (name.empty()) continue;
    int64_t id = lookup(name);
    FQ_CHECK(id >= 0, (top / key).where(), ": '", name, "' is not a token of '", path, "'");
    *slot = static_cast<int32_t>(id);
  }
  // transformers rebuilds the post-processor as [bos] $A [eos] when the flags are given explicitly; the
  // Llama tokenizer classes always pass them, defaulting to add_bos_token=true, add_eos_token=false.
  const std::string cls = top.get_or<std::string>(config, "tokenizer_class", "");
  const bool llama_class = cls == "LlamaTokenizer" || cls == "LlamaTokenizerFast";
  if (!llama_class && !config.contains("add_bos_token") && !config.contains("add_eos_token")) return;
  const bool add_bos = top.get_or<bool>(config, "add_bos_token", llama_class);
  const bool add_eos = top.get_or<bool>(config, "add_eos_token", false);
  FQ_CHECK(!add_bos || bos >= 0, top.where(), ": add_bos_token is true but no bos_token is known");
  FQ_CHECK(!add_eos || eos >= 0, top.where(), ": add_eos_token is true but no eos_token is known");
  post_processor = tok::make_bos_eos_template(add_bos ? std::vector<int32_t>{bos} : std::vector<int32_t>{},
                                              add_eos ? std::vector<int32_t>{eos} : std::vector<int32_t>{});
}

Tokenizer::Tokenizer(std::shared_ptr<const Impl> impl) : impl_(std::move(impl)) {}

Tokenizer Tokenizer::from_file(const std::string& tokenizer_json_path) {
  return Tokenizer(Impl::parse(tokenizer_json_path));
}

Tokenizer Tokenizer::from_model_dir(const std::string& dir) {
  namespace fs = std::filesystem;
  const std::string json_path = (fs::path(dir) / "tokenizer.json").string();
  FQ_CHECK(fs::is_regular_file(json_path), "model directory '", dir, "' has no tokenizer.json");
  auto impl = Impl::parse(json_path);
  const std::string config_path = (fs::path(dir) / "tokenizer_config.json").string();
  if (fs::is_regular_file(config_path)) impl->apply_tokenizer_config(config_path);
  return Tokenizer(std::move(impl));
}

void Tokenizer::Impl::encode_gap(std::string_view raw, bool at_origin, std::vector<int32_t>* ids) const {
  std::string normalized(raw);
  if (normalizer) normalizer->normalize(&normalized);
  for (const tok::TextSegment& segment : added.split(normalized, /*normalized_tokens=*/true)) {
    if (segment.id >= 0) {
      ids->push_back(segment.id);
      continue;
    }
    std::vector<tok::PreToken> pieces{{std::string(segment.text), at_origin && segment.offset == 0}};
    if (pre_tokenizer) pre_tokenizer->pre_tokenize(&pieces);
    for (const tok::PreToken& piece : pieces) {
      if (!piece.text.empty()) model->tokenize(piece.text, ids);
    }
  }
}

std::vector<int64_t> Tokenizer::encode(std::string_view text, bool add_special_tokens) const {
  const std::size_t bad = tok::find_invalid_utf8(text);
  FQ_CHECK(bad == std::string_view::npos, "cannot tokenize text that is not valid UTF-8 (first bad byte at offset ",
           bad, " of ", text.size(), ")");
  std::vector<int32_t> ids;
  ids.reserve(text.size() / 3 + 8);
  for (const tok::TextSegment& segment : impl_->added.split(text, /*normalized_tokens=*/false)) {
    if (segment.id >= 0) {
      ids.push_back(segment.id);
    } else {
      impl_->encode_gap(segment.text, segment.offset == 0, &ids);
    }
  }
  if (impl_->post_processor) impl_->post_processor->process(&ids, add_special_tokens);
  return std::vector<int64_t>(ids.begin(), ids.end());
}

std::string Tokenizer::decode(const std::vector<int64_t>& ids, bool skip_special_tokens) const {
  std::vector<std::string> tokens;
  tokens.reserve(ids.size());
  for (int64_t id : ids) {
    std::string token = id_to_token(id);
    if (skip_special_tokens && impl_->special_contents.count(token)) continue;
    tokens.push_back(std::move(token));
  }
  if (!impl_->decoder) {
    std::string joined;
    for (std::size_t i = 0; i < tokens.size(); ++i) joined += (i ? " " : "") + tokens[i];
    return joined;
  }
  impl_->decoder->decode_chain(&tokens);
  std::string text;
  for (const std::string& t : tokens) text += t;
  return text;
}

int64_t Tokenizer::token_to_id(std::string_view token) const { return impl_->lookup(token); }

std::string Tokenizer::id_to_token(int64_t id) const {
  FQ_CHECK(id >= 0 && id < (int64_t{1} << 31), "token id ", id, " is out of range for '", impl_->path, "'");
  if (const tok::AddedToken* added = impl_->added.by_id(static_cast<int32_t>(id))) return added->content;
  const std::string* token = impl_->model->id_to_token(static_cast<int32_t>(id));
  FQ_CHECK(token != nullptr, "token id ", id, " is not in the vocabulary of '", impl_->path, "'");
  return *token;
}

bool Tokenizer::is_special(int64_t id) const {
  if (id < 0 || id >= (int64_t{1} << 31)) return false;
  const tok::AddedToken* added = impl_->added.by_id(static_cast<int32_t>(id));
  return added != nullptr && added->special;
}

int64_t Tokenizer::bos_id() const { return impl_->bos; }
int64_t Tokenizer::eos_id() const { return impl_->eos; }

int64_t Tokenizer::vocab_size() const {
  int64_t max_id = impl_->model->max_id();
  for (const tok::AddedToken& token : impl_->added.tokens()) max_id = std::max<int64_t>(max_id, token.id);
  return max_id + 1;
}

const std::string& Tokenizer::path() const { return impl_->path; }

}  // namespace fq::io
