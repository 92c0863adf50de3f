// Quoting for bash command lines the job script runs.
#pragma once

#include <string>
#include <vector>

namespace fq::cluster {

// `word` as one bash word: unchanged when it is made only of safe characters, else in single quotes
// (a ' inside becomes '\'').
std::string shell_quote(const std::string& word);
// The words quoted and joined by spaces.
std::string shell_join(const std::vector<std::string>& words);

}  // namespace fq::cluster
