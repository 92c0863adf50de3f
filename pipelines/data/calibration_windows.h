// Calibration windows (ALGORITHM.md "Calibration loop", REFERENCE.md section 6): `nsamples` windows of
// `seqlen` tokens at seeded random positions, tokenized with the model's own tokenizer, from
//   text   a raw text file (WikiText style), encoded once as one stream (BOS at its start);
//   jsonl  one JSON object per line with a "text" field (C4 style): each window from a random document
//          longer than the window;
//   tokens pre-tokenized ids: a .npy array (int32/int64/uint16/uint32) or text of integers.
#pragma once

#include <cstdint>
#include <string>

#include <ATen/core/Tensor.h>

namespace fq::io {
class Tokenizer;
}

namespace fq::pipelines {

struct WindowSpec {
  std::string path;
  std::string format = "auto";  // auto picks by extension: .jsonl/.json -> jsonl, .npy/.ids/.tokens -> tokens
  int64_t nsamples = 128;
  int64_t seqlen = 2048;
  uint64_t seed = 0;
};

// [nsamples, seqlen] int64. A text too short for one window is an fq::Error naming the file and the
// number of tokens it has.
at::Tensor calibration_windows(const WindowSpec& spec, const io::Tokenizer& tokenizer);

// The format `auto` resolves to for `path`.
std::string resolve_window_format(const std::string& path, const std::string& format);

}  // namespace fq::pipelines
