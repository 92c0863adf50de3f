#include "apps/flatquant/cli.h"

#include <iostream>

#include "lib/core/error.h"
#include "lib/core/exit_codes.h"

namespace fq::cli {

bool parse(const std::string& command, const std::string& synopsis, const po::options_description& options,
           const std::vector<std::string>& args, po::variables_map* vm, int* exit_code) {
  po::options_description all(options);
  all.add_options()("help,h", "print this help and exit");
  try {
    po::store(po::command_line_parser(args).options(all).run(), *vm);
    if (vm->count("help")) {
      std::cout << "usage: flatquant " << command << " " << synopsis << "\n\n" << all << "\n";
      *exit_code = kExitOk;
      return false;
    }
    po::notify(*vm);
  } catch (const po::error& e) {
    std::cerr << "flatquant " << command << ": " << e.what() << "\n"
              << "run 'flatquant " << command << " --help' for the options\n";
    *exit_code = kExitUsage;
    return false;
  } catch (const fq::Error& e) {  // thrown by value validators (see the commands' notifiers)
    std::cerr << "flatquant " << command << ": " << e.what() << "\n";
    *exit_code = kExitUsage;
    return false;
  }
  return true;
}

int run_guarded(const std::string& command, const std::function<int(const po::variables_map&)>& body,
                const po::variables_map& vm) {
  try {
    return body(vm);
  } catch (const fq::Error& e) {
    std::cerr << "flatquant " << command << ": error: " << e.what() << "\n";
    return kExitFailure;
  } catch (const std::exception& e) {
    std::cerr << "flatquant " << command << ": unexpected error: " << e.what() << "\n";
    return kExitFailure;
  }
}

}  // namespace fq::cli
