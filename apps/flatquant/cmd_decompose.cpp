// `flatquant decompose N...`: the Kronecker factors FlatQuant uses for each linear input size.
#include <iostream>

#include "apps/flatquant/cli.h"
#include "lib/core/exit_codes.h"
#include "lib/quant/decompose_dim.h"

namespace fq::cli {
namespace {

int run(const po::variables_map& vm) {
  for (int64_t n : vm["size"].as<std::vector<int64_t>>()) {
    auto [n1, n2] = quant::decompose_dim(n);
    std::cout << n << " = " << n1 << " x " << n2 << "\n";
  }
  return kExitOk;
}

}  // namespace

int cmd_decompose(const std::vector<std::string>& args) {
  po::options_description options("decompose options");
  options.add_options()("size", po::value<std::vector<int64_t>>()->multitoken()->required(),
                        "linear input sizes, e.g. --size 4096 7168");
  po::variables_map vm;
  int code = 0;
  if (!parse("decompose", "--size N [N...]", options, args, &vm, &code)) return code;
  return run_guarded("decompose", run, vm);
}

}  // namespace fq::cli
