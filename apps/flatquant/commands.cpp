// The table of subcommands. Each lives in its own cmd_<name>.cpp.
#include "apps/flatquant/cli.h"

namespace fq::cli {

int cmd_decompose(const std::vector<std::string>& args);

const std::vector<Command>& commands() {
  static const std::vector<Command> table = {
      {"decompose", "print the Kronecker factor sizes FlatQuant uses for linear input sizes", cmd_decompose},
  };
  return table;
}

}  // namespace fq::cli
