// tokenizer.json `pre_tokenizer`: cuts normalized text into the pieces BPE encodes one by one.
// Supported: Sequence, Split (regex or literal, every split behavior, invert), ByteLevel, Metaspace.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "lib/io/tokenizer/json_field.h"

namespace fq::io::tok {

struct PreToken {
  std::string text;
  // The piece starts at byte 0 of the caller's text (Metaspace's prepend_scheme "first" needs it).
  bool at_origin = false;
};

class PreTokenizer {
 public:
  virtual ~PreTokenizer() = default;
  // Replaces `pieces` by their sub-pieces, in order; empty pieces are dropped.
  virtual void pre_tokenize(std::vector<PreToken>* pieces) const = 0;
};

// nullptr for a JSON null; unknown types throw naming the file, the field and the type.
std::unique_ptr<PreTokenizer> parse_pre_tokenizer(const Json& node, const JsonField& field);

}  // namespace fq::io::tok
