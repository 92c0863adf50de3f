// The table of subcommands. Each lives in its own cmd_<name>.cpp.
#include "apps/flatquant/cli.h"

namespace fq::cli {

int cmd_calibrate(const std::vector<std::string>& args);
int cmd_decompose(const std::vector<std::string>& args);
int cmd_gather(const std::vector<std::string>& args);
int cmd_eval(const std::vector<std::string>& args);
int cmd_slurm(const std::vector<std::string>& args);
int cmd_make_model(const std::vector<std::string>& args);
int cmd_tokenize(const std::vector<std::string>& args);

const std::vector<Command>& commands() {
  static const std::vector<Command> table = {
      {"calibrate", "calibrate FlatQuant transforms layer by layer (the main job; resumable, multi-rank)", cmd_calibrate},
      {"gather", "collect a run's per-layer files into transforms.h5 after the fact (checks every layer is done)",
       cmd_gather},
      {"slurm", "write (and with --submit, submit) the Slurm batch script of a calibration job", cmd_slurm},
      {"eval", "perplexity, MMLU or C-Eval of a model: full precision, RTN W4A4, or with calibrated transforms", cmd_eval},
      {"make-model", "write a synthetic HF checkpoint (LLaMA-3 / DeepSeek V3 shapes, outliers, BF16 or FP8)",
       cmd_make_model},
      {"tokenize", "encode text or decode ids with a model's tokenizer.json", cmd_tokenize},
      {"decompose", "print the Kronecker factor sizes FlatQuant uses for linear input sizes", cmd_decompose},
  };
  return table;
}

}  // namespace fq::cli
