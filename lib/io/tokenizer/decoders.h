// tokenizer.json `decoder`: turns the token strings of an id sequence back into text.
// Supported: Sequence, ByteLevel, Replace, ByteFallback, Fuse, Strip, Metaspace. Each step maps a list
// of strings to a list of strings (HF's decode_chain); the result is their concatenation.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "lib/io/tokenizer/json_field.h"

namespace fq::io::tok {

class Decoder {
 public:
  virtual ~Decoder() = default;
  virtual void decode_chain(std::vector<std::string>* tokens) const = 0;
};

// nullptr for a JSON null; unknown types throw naming the file, the field and the type.
std::unique_ptr<Decoder> parse_decoder(const Json& node, const JsonField& field);

}  // namespace fq::io::tok
