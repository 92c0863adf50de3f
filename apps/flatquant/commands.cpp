// The table of subcommands. Each lives in its own cmd_<name>.cpp.
#include "apps/flatquant/cli.h"

namespace fq::cli {

int cmd_calibrate(const std::vector<std::string>& args);
int cmd_decompose(const std::vector<std::string>& args);
int cmd_eval(const std::vector<std::string>& args);
int cmd_tokenize(const std::vector<std::string>& args);

const std::vector<Command>& commands() {
  static const std::vector<Command> table = {
      {"calibrate", "calibrate FlatQuant transforms layer by layer (the main job; resumable, multi-rank)", cmd_calibrate},
      {"eval", "perplexity of a model: full precision, RTN W4A4, or with calibrated transforms", cmd_eval},
      {"decompose", "print the Kronecker factor sizes FlatQuant uses for linear input sizes", cmd_decompose},
      {"tokenize", "encode text or decode ids with a model's tokenizer.json", cmd_tokenize},
  };
  return table;
}

}  // namespace fq::cli
