// Shared plumbing of the `flatquant` subcommands: registration and Boost.Program_options parsing with
// the project's conventions (--help prints every option with its default; unknown flags and bad values
// print an error naming the flag and exit with kExitUsage).
#pragma once

#include <functional>
#include <string>
#include <vector>

#include <boost/program_options.hpp>

namespace fq::cli {

namespace po = boost::program_options;

struct Command {
  const char* name;
  const char* summary;
  int (*run)(const std::vector<std::string>& args);
};

// Every subcommand, in the order `flatquant --help` lists them (defined in commands.cpp).
const std::vector<Command>& commands();

// Parses `args` (the words after the subcommand). Returns true when the command should run; otherwise
// `*exit_code` holds the code to return (0 after --help, kExitUsage after an error).
bool parse(const std::string& command, const std::string& synopsis, const po::options_description& options,
           const std::vector<std::string>& args, po::variables_map* vm, int* exit_code);

// Runs `body`, turning fq::Error and other exceptions into a message and kExitFailure.
int run_guarded(const std::string& command, const std::function<int(const po::variables_map&)>& body,
                const po::variables_map& vm);

}  // namespace fq::cli
