#include "cluster/slurm/sbatch_render.h"

#include <map>

#include "cluster/slurm/shell_quote.h"
#include "flatquant_sbatch_template.h"
#include "lib/core/error.h"

namespace fq::cluster {
namespace {

std::string sbatch_options(const SlurmSpec& s) {
  std::string out;
  auto option = [&out](const std::string& text) { out += "#SBATCH " + text + "\n"; };
  option("--job-name=" + s.job_name);
  option("--nodes=" + std::to_string(s.nodes));
  option("--ntasks-per-node=" + std::to_string(s.ntasks_per_node));
  if (s.gpus_per_node > 0) option("--gpus-per-node=" + std::to_string(s.gpus_per_node));
  option("--cpus-per-task=" + std::to_string(s.cpus_per_task));
  if (!s.memory.empty()) option("--mem=" + s.memory);
  option("--time=" + s.time);
  if (!s.partition.empty()) option("--partition=" + s.partition);
  if (!s.account.empty()) option("--account=" + s.account);
  if (s.exclusive) option("--exclusive");
  option(s.requeue ? "--requeue" : "--no-requeue");
  if (!s.signal.empty()) option("--signal=" + s.signal);
  // A requeued job writes to the same file: append instead of truncating the first run's log.
  option("--open-mode=append");
  option("--output=" + s.output);
  if (!s.workdir.empty()) option("--chdir=" + s.workdir);
  for (const std::string& extra : s.extra_sbatch) option(extra);
  out.pop_back();  // the template ends the placeholder's line
  return out;
}

std::string environment(const SlurmSpec& s) {
  std::string out;
  for (const auto& [name, value] : s.environment) out += "export " + name + "=" + shell_quote(value) + "\n";
  if (!out.empty()) out.pop_back();
  return out;
}

std::string setup(const SlurmSpec& s) {
  std::string out;
  for (const std::string& line : s.setup) out += line + "\n";
  if (!out.empty()) out.pop_back();
  return out;
}

std::string launch(const SlurmSpec& s, const std::vector<std::string>& command) {
  std::vector<std::string> words;
  if (s.launcher == SlurmLauncher::kSrun) {
    // -K1: one failed task ends the step, instead of the others hanging in a collective.
    words = {"srun", "--mpi=pmix", "--kill-on-bad-exit=1"};
  } else {
    // mpirun aborts the whole job when a rank fails; -x passes the exports to every rank.
    words = {"mpirun", "--bind-to", "none"};
    for (const auto& [name, value] : s.environment) words.insert(words.end(), {"-x", name});
  }
  words.insert(words.end(), s.launcher_args.begin(), s.launcher_args.end());
  words.insert(words.end(), command.begin(), command.end());
  return shell_join(words);
}

}  // namespace

const std::string& sbatch_template() {
  static const std::string text = kFlatquantSbatchTemplate;
  return text;
}

std::string render_sbatch(const SlurmSpec& spec, const std::vector<std::string>& command,
                          const std::string& template_text) {
  validate_slurm_spec(spec);
  FQ_CHECK(!command.empty(), "render_sbatch: the command to launch is empty");
  for (const char* required : {"{{SBATCH_OPTIONS}}", "{{LAUNCH}}"}) {
    FQ_CHECK(template_text.find(required) != std::string::npos, "render_sbatch: the template has no ", required);
  }
  const std::map<std::string, std::string> values = {
      {"{{SBATCH_OPTIONS}}", sbatch_options(spec)}, {"{{ENVIRONMENT}}", environment(spec)},
      {"{{SETUP}}", setup(spec)},                   {"{{REQUEUE_ON_RESUME}}", spec.requeue ? "1" : "0"},
      {"{{LAUNCH}}", launch(spec, command)},
  };
  // Placeholders are found in the template before any value is inserted, so a value that happens to
  // contain "{{" (a command argument) is never mistaken for one.
  std::string out;
  std::size_t pos = 0;
  while (true) {
    const std::size_t open = template_text.find("{{", pos);
    if (open == std::string::npos) break;
    const std::size_t close = template_text.find("}}", open);
    const std::string name = template_text.substr(open, close == std::string::npos ? 40 : close + 2 - open);
    const auto it = values.find(name);
    FQ_CHECK(it != values.end(), "render_sbatch: unknown placeholder '", name, "' in the template");
    out.append(template_text, pos, open - pos);
    out += it->second;
    pos = close + 2;
  }
  out.append(template_text, pos, std::string::npos);
  return out;
}

}  // namespace fq::cluster
