// `flatquant tokenize` end to end: the binary encodes and decodes with the shared tokenizer, and refuses
// bad command lines with exit code 2.
#include <array>
#include <cstdio>

#include <gtest/gtest.h>
#include <sys/wait.h>

#include "lib/core/exit_codes.h"
#include "tests/support/shared_dir.h"

namespace fq {
namespace {

struct CliResult {
  int exit_code;
  std::string out;  // stdout only
};

CliResult run_flatquant(const std::string& args) {
  const std::string command = test::flatquant_binary() + " " + args + " 2>/dev/null";
  FILE* pipe = popen(command.c_str(), "r");
  EXPECT_NE(pipe, nullptr) << command;
  CliResult run{-1, ""};
  if (!pipe) return run;
  std::array<char, 4096> buffer;
  std::size_t n;
  while ((n = fread(buffer.data(), 1, buffer.size(), pipe)) > 0) run.out.append(buffer.data(), n);
  const int status = pclose(pipe);
  run.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return run;
}

TEST(TokenizeCli, EncodesAndDecodesWithTheSharedTokenizer) {
  FQ_REQUIRE_SHARED();
  const std::string tokenizer = "--tokenizer '" + test::shared_path("models/tokenizer/tokenizer.json") + "'";
  // The first entry of models/tokenizer/golden_encodings.json.
  const std::string ids = "0 3337 260 2138 393 3327 260 735 269 260 621 15";
  const CliResult encoded =
      run_flatquant("tokenize " + tokenizer + " --text 'In the beginning God created the heaven and the earth.'");
  EXPECT_EQ(encoded.exit_code, kExitOk);
  EXPECT_EQ(encoded.out, ids + "\n");
  const CliResult decoded = run_flatquant("tokenize " + tokenizer + " --skip-special --decode " + ids);
  EXPECT_EQ(decoded.exit_code, kExitOk);
  EXPECT_EQ(decoded.out, "In the beginning God created the heaven and the earth.\n");
  const CliResult model_dir = run_flatquant("tokenize --model '" + test::shared_path("models/tiny-llama3") +
                                      "' --no-special --show-tokens --text 'In'");
  EXPECT_EQ(model_dir.exit_code, kExitOk);
  EXPECT_EQ(model_dir.out, "3337\tIn\n");
}

TEST(TokenizeCli, RejectsBadCommandLines) {
  EXPECT_EQ(run_flatquant("tokenize --text x").exit_code, kExitUsage);  // no tokenizer
  EXPECT_EQ(run_flatquant("tokenize --tokenizer a --model b --text x").exit_code, kExitUsage);
  EXPECT_EQ(run_flatquant("tokenize --tokenizer a --text x --file y").exit_code, kExitUsage);
  EXPECT_EQ(run_flatquant("tokenize --no-such-flag").exit_code, kExitUsage);
  EXPECT_EQ(run_flatquant("tokenize --tokenizer /nonexistent/tokenizer.json --text x").exit_code, kExitFailure);
}

}  // namespace
}  // namespace fq
