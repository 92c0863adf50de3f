// Hugging Face tokenizer.json tokenizers (BPE models): byte-level BPE as in LLaMA-3 and DeepSeek V3, and
// the SentencePiece-style BPE with byte fallback of LLaMA-2 (REFERENCE.md section 7).
//
// encode() reproduces `tokenizers.Tokenizer.from_file(path).encode(text, add_special_tokens).ids`:
// added tokens are matched first (leftmost-longest), the text between them is normalized,
// pre-tokenized (Split regexes run by PCRE2 with Unicode properties, ByteLevel, Metaspace) and merged by
// BPE; the post-processor then adds the template's special tokens. decode() reproduces
// `Tokenizer.decode(ids, skip_special_tokens)`.
//
// Supported components: normalizers Sequence/Prepend/Replace; pre-tokenizers Sequence/Split/ByteLevel/
// Metaspace; model BPE (merges as "a b" or ["a","b"], ignore_merges, byte_fallback, unk_token, fuse_unk,
// continuing_subword_prefix, end_of_word_suffix); post-processors TemplateProcessing/ByteLevel/Sequence;
// decoders Sequence/ByteLevel/Replace/ByteFallback/Fuse/Strip/Metaspace. Anything else, and added tokens
// with lstrip/rstrip/single_word, is refused with an error naming the file and the field. The file's
// truncation and padding settings are ignored: flatquant windows token streams itself.
//
// Thread-safe: a Tokenizer is immutable after construction (its BPE cache is internally locked); copies
// share one implementation.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace fq::io {

class Tokenizer {
 public:
  // Parses a tokenizer.json. Errors (missing file, bad JSON, missing or malformed field, unsupported
  // component) throw fq::Error naming the file and the field. bos_id()/eos_id() are the special tokens the
  // post-processor's single-sequence template puts before/after the text (-1 when none).
  static Tokenizer from_file(const std::string& tokenizer_json_path);

  // `dir`/tokenizer.json, plus `dir`/tokenizer_config.json when present, applied as transformers'
  // AutoTokenizer does: bos_token/eos_token (string or {"content": ...}) name bos_id()/eos_id(); when
  // the config sets add_bos_token or add_eos_token, or tokenizer_class is LlamaTokenizer(Fast) (whose
  // defaults are add_bos_token=true, add_eos_token=false), encode(..., true) adds exactly
  // [bos] text [eos] per those flags instead of the file's post-processor.
  static Tokenizer from_model_dir(const std::string& dir);

  // Token ids of `text`, which must be valid UTF-8 (otherwise fq::Error naming the byte offset).
  std::vector<int64_t> encode(std::string_view text, bool add_special_tokens = true) const;

  // The text of `ids` through the decoder (token strings joined by spaces when the file has none).
  // Ill-formed UTF-8 produced by partial byte sequences becomes U+FFFD. An id outside the vocabulary
  // throws fq::Error.
  std::string decode(const std::vector<int64_t>& ids, bool skip_special_tokens = false) const;

  int64_t token_to_id(std::string_view token) const;  // added tokens first, then the model; -1 when absent
  std::string id_to_token(int64_t id) const;          // throws fq::Error for an unknown id
  bool is_special(int64_t id) const;                  // an added token marked "special"

  int64_t bos_id() const;  // -1 when unknown
  int64_t eos_id() const;  // -1 when unknown
  // Highest id (model vocabulary or added token) + 1: the rows an embedding table needs at least.
  int64_t vocab_size() const;
  // The tokenizer.json this was read from.
  const std::string& path() const;

 private:
  struct Impl;
  explicit Tokenizer(std::shared_ptr<const Impl> impl);
  std::shared_ptr<const Impl> impl_;
};

}  // namespace fq::io
