#include "cluster/slurm/sbatch_submit.h"

#include <sys/wait.h>

#include <cctype>
#include <cstdio>

#include "cluster/slurm/shell_quote.h"
#include "lib/core/error.h"

namespace fq::cluster {

std::string submit_sbatch(const std::string& script_path, const std::vector<std::string>& extra_args) {
  std::vector<std::string> words = {"sbatch", "--parsable"};
  words.insert(words.end(), extra_args.begin(), extra_args.end());
  words.push_back(script_path);
  const std::string command = shell_join(words) + " 2>&1";
  std::FILE* pipe = ::popen(command.c_str(), "r");
  FQ_CHECK(pipe != nullptr, "cannot run '", command, "'");
  std::string output;
  char buf[512];
  for (std::size_t n; (n = std::fread(buf, 1, sizeof buf, pipe)) > 0;) output.append(buf, n);
  const int status = ::pclose(pipe);
  const bool ok = status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 0;
  FQ_CHECK(ok, "sbatch failed for '", script_path, "' (exit status ", status == -1 ? -1 : WEXITSTATUS(status),
           "): ", output);
  // --parsable prints "<job id>[;<cluster>]" on the last line (warnings may come before it).
  while (!output.empty() && std::isspace(static_cast<unsigned char>(output.back()))) output.pop_back();
  const std::string last = output.substr(output.find_last_of('\n') + 1);
  const std::string job_id = last.substr(0, last.find(';'));
  FQ_CHECK(!job_id.empty() && std::isdigit(static_cast<unsigned char>(job_id[0])), "sbatch for '", script_path,
           "' printed no job id: ", output);
  return job_id;
}

}  // namespace fq::cluster
