// flatquant: one binary, one subcommand per stage of the work.
#include <cstring>
#include <iostream>
#include <string>
#include <vector>

#include "apps/flatquant/cli.h"
#include "flatquant_build_info.h"
#include "lib/core/exit_codes.h"

namespace {

void print_usage(std::ostream& out) {
  out << "flatquant " << FLATQUANT_VERSION
      << ": FlatQuant W4A4 calibration and evaluation for LLaMA and DeepSeek V3 models\n\n"
      << "usage: flatquant <command> [options]\n       flatquant <command> --help\n\ncommands:\n";
  for (const auto& cmd : fq::cli::commands()) {
    out << "  " << cmd.name << std::string(14 - std::min<size_t>(13, std::strlen(cmd.name)), ' ') << cmd.summary
        << "\n";
  }
  out << "\nexit codes: 0 success, 1 failure (the message names the cause), 2 bad command line,\n"
      << "            75 stopped by a signal after saving completed work (run the same command to resume)\n";
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    print_usage(std::cerr);
    return fq::kExitUsage;
  }
  const std::string name = argv[1];
  if (name == "--help" || name == "-h" || name == "help") {
    print_usage(std::cout);
    return fq::kExitOk;
  }
  if (name == "--version") {
    std::cout << "flatquant " << FLATQUANT_VERSION << "\n";
    return fq::kExitOk;
  }
  for (const auto& cmd : fq::cli::commands()) {
    if (name == cmd.name) return cmd.run(std::vector<std::string>(argv + 2, argv + argc));
  }
  std::cerr << "flatquant: unknown command '" << name << "'\n\n";
  print_usage(std::cerr);
  return fq::kExitUsage;
}
