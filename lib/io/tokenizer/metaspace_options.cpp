#include "lib/io/tokenizer/metaspace_options.h"

namespace fq::io::tok {

MetaspaceOptions parse_metaspace_options(const Json& node, const JsonField& field) {
  MetaspaceOptions options;
  options.replacement = field.get<std::string>(node, "replacement");
  single_character(options.replacement, field / "replacement");
  const std::string scheme = field.get_or<std::string>(node, "prepend_scheme", "always");
  if (scheme == "always") {
    options.prepend_scheme = PrependScheme::kAlways;
  } else if (scheme == "first") {
    options.prepend_scheme = PrependScheme::kFirst;
  } else if (scheme == "never") {
    options.prepend_scheme = PrependScheme::kNever;
  } else {
    throw Error(str((field / "prepend_scheme").where(), ": expected always, first or never, got '", scheme, "'"));
  }
  if (!field.get_or<bool>(node, "add_prefix_space", true)) {
    FQ_CHECK(!node.contains("prepend_scheme") || options.prepend_scheme == PrependScheme::kNever, field.where(),
             ": add_prefix_space false contradicts prepend_scheme '", scheme, "'");
    options.prepend_scheme = PrependScheme::kNever;
  }
  options.split = field.get_or<bool>(node, "split", true);
  return options;
}

}  // namespace fq::io::tok
