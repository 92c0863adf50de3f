// `flatquant tokenize`: encode text or decode ids with a model's tokenizer.json, for debugging
// tokenization (calibration text, perplexity corpora, MMLU/C-Eval prompts).
#include <iomanip>
#include <iostream>
#include <sstream>

#include "apps/flatquant/cli.h"
#include "lib/core/atomic_file.h"
#include "lib/core/exit_codes.h"
#include "lib/core/stopwatch.h"
#include "lib/io/tokenizer.h"

namespace fq::cli {
namespace {

// A token string with control characters and backslashes escaped, so that one token is one line.
std::string printable(const std::string& token) {
  std::ostringstream out;
  for (unsigned char c : token) {
    if (c == '\\') {
      out << "\\\\";
    } else if (c < 0x20 || c == 0x7F) {
      out << "\\x" << std::hex << std::setw(2) << std::setfill('0') << static_cast<int>(c) << std::dec;
    } else {
      out << c;
    }
  }
  return out.str();
}

int run(const po::variables_map& vm) {
  const std::string tokenizer_path = vm["tokenizer"].as<std::string>();
  const std::string model_dir = vm["model"].as<std::string>();
  const io::Tokenizer tok =
      model_dir.empty() ? io::Tokenizer::from_file(tokenizer_path) : io::Tokenizer::from_model_dir(model_dir);

  const auto& decode_ids = vm["decode"].as<std::vector<int64_t>>();
  if (!decode_ids.empty()) {
    std::cout << tok.decode(decode_ids, vm["skip-special"].as<bool>()) << "\n";
    return kExitOk;
  }
  const std::string file = vm["file"].as<std::string>();
  const std::string text = file.empty() ? vm["text"].as<std::string>() : read_file(file);
  Stopwatch watch;
  const std::vector<int64_t> ids = tok.encode(text, !vm["no-special"].as<bool>());
  const double seconds = watch.seconds();
  if (vm["show-tokens"].as<bool>()) {
    for (int64_t id : ids) std::cout << id << "\t" << printable(tok.id_to_token(id)) << "\n";
  } else {
    for (std::size_t i = 0; i < ids.size(); ++i) std::cout << (i ? " " : "") << ids[i];
    std::cout << "\n";
  }
  std::cerr << ids.size() << " tokens from " << text.size() << " bytes in " << std::fixed << std::setprecision(3)
            << seconds << " s\n";
  return kExitOk;
}

}  // namespace

int cmd_tokenize(const std::vector<std::string>& args) {
  po::options_description options("tokenize options");
  options.add_options()("tokenizer", po::value<std::string>()->default_value(""), "a tokenizer.json file")(
      "model", po::value<std::string>()->default_value(""),
      "a model directory: tokenizer.json plus tokenizer_config.json (BOS/EOS as transformers adds them)")(
      "text", po::value<std::string>()->default_value(""), "text to encode")(
      "file", po::value<std::string>()->default_value(""), "encode this file's contents instead of --text")(
      "decode", po::value<std::vector<int64_t>>()->multitoken()->default_value({}, ""),
      "decode these ids instead of encoding")("no-special", po::bool_switch()->default_value(false),
                                              "encode without the post-processor's special tokens")(
      "skip-special", po::bool_switch()->default_value(false), "drop special tokens when decoding")(
      "show-tokens", po::bool_switch()->default_value(false), "print one 'id<TAB>token' line per token");
  po::variables_map vm;
  int code = 0;
  const std::string synopsis = "(--tokenizer FILE | --model DIR) (--text TEXT | --file FILE | --decode ID...)";
  if (!parse("tokenize", synopsis, options, args, &vm, &code)) return code;
  const bool one_source = vm["tokenizer"].as<std::string>().empty() != vm["model"].as<std::string>().empty();
  const int inputs = !vm["text"].as<std::string>().empty() + !vm["file"].as<std::string>().empty() +
                     !vm["decode"].as<std::vector<int64_t>>().empty();
  if (!one_source || inputs > 1) {
    std::cerr << "flatquant tokenize: give exactly one of --tokenizer/--model and at most one of "
                 "--text/--file/--decode\nrun 'flatquant tokenize --help' for the options\n";
    return kExitUsage;
  }
  return run_guarded("tokenize", run, vm);
}

}  // namespace fq::cli
