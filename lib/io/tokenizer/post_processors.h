// tokenizer.json `post_processor`: adds special tokens around an encoded sequence when
// add_special_tokens is set. Supported: TemplateProcessing (single-sequence template), ByteLevel (no
// change to ids), Sequence.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "lib/io/tokenizer/json_field.h"

namespace fq::io::tok {

class PostProcessor {
 public:
  virtual ~PostProcessor() = default;
  virtual void process(std::vector<int32_t>* ids, bool add_special_tokens) const = 0;
  // The ids the single-sequence template puts before and after the sequence (empty when none).
  virtual std::vector<int32_t> prefix_ids() const { return {}; }
  virtual std::vector<int32_t> suffix_ids() const { return {}; }
};

// nullptr for a JSON null; unknown types throw naming the file, the field and the type.
std::unique_ptr<PostProcessor> parse_post_processor(const Json& node, const JsonField& field);

// The template transformers' Llama tokenizers install: [bos] $A [eos], each part optional.
std::unique_ptr<PostProcessor> make_bos_eos_template(std::vector<int32_t> prefix, std::vector<int32_t> suffix);

}  // namespace fq::io::tok
