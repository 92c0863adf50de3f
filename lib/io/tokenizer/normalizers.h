// tokenizer.json `normalizer`: rewrites each stretch of text between added tokens before pre-tokenization.
// Supported: Sequence, Prepend, Replace (String or Regex pattern).
#pragma once

#include <memory>
#include <string>

#include "lib/io/tokenizer/json_field.h"

namespace fq::io::tok {

class Normalizer {
 public:
  virtual ~Normalizer() = default;
  virtual void normalize(std::string* text) const = 0;
};

// nullptr for a JSON null; unknown types throw naming the file, the field and the type.
std::unique_ptr<Normalizer> parse_normalizer(const Json& node, const JsonField& field);

}  // namespace fq::io::tok
