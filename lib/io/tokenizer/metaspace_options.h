// The settings shared by the Metaspace pre-tokenizer and decoder (SentencePiece's "▁" for spaces).
#pragma once

#include <string>

#include "lib/io/tokenizer/json_field.h"

namespace fq::io::tok {

// When the pre-tokenizer prepends the replacement character: to every piece, only to the piece at the
// start of the text, or never.
enum class PrependScheme { kAlways, kFirst, kNever };

struct MetaspaceOptions {
  std::string replacement;  // one character, UTF-8
  PrependScheme prepend_scheme = PrependScheme::kAlways;
  bool split = true;  // cut the text before every replacement character
};

// Reads `replacement`, `prepend_scheme` (default "always"), the older `add_prefix_space: false` (meaning
// "never") and `split` (default true); errors name the file and the field.
MetaspaceOptions parse_metaspace_options(const Json& node, const JsonField& field);

}  // namespace fq::io::tok
