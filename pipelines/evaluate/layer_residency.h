// Whether a one-rank evaluation keeps the model's layers in memory across its passes through the model.
// MMLU / C-Eval make one pass per walk of up to --walk-sequences prompts (~60 for MMLU's letters);
// streaming, every pass loads, folds and quantizes every layer again, which for a 70B model read from disk
// costs minutes per pass. Resident, the layers are built once and every pass runs micro-batch by micro-batch
// through them (a pipeline of one stage, eval_forward.h), with the same results bit for bit on the CPU.
// Streaming stays for models whose weights do not fit (DeepSeek V3 on one GPU): one layer's weights at a time.
#pragma once

#include <cstdint>
#include <string>

#include <c10/core/ScalarType.h>

#include "lib/io/model_config.h"

namespace fq::pipelines {

enum class LayerResidency { kAuto, kResident, kStream };

// "auto" | "resident" | "stream"; anything else is an error naming `where`.
LayerResidency parse_layer_residency(const std::string& name, const std::string& where);
std::string layer_residency_name(LayerResidency residency);

// An estimate of the bytes the evaluated model's weights take once built: the decoder layers at half a byte
// per parameter when their linears run as packed int4, else at the compute dtype's size; the embedding and
// the output head (with its norm) at the compute dtype's size. Scales, norms and transforms are below 2% of
// a layer for every supported model and are left out.
int64_t resident_weight_bytes(const io::ModelConfig& config, bool packed_int4, c10::ScalarType dtype);

// The share of the device's available memory resident weights may take under kAuto: the rest is for the
// activations of a micro-batch, the kept prefix keys/values and the allocator's slack.
constexpr double kResidentMemoryShare = 0.8;

// kAuto: resident when `weight_bytes` <= kResidentMemoryShare x `available_bytes` (0: unknown, stream).
bool keep_layers_resident(LayerResidency residency, int64_t weight_bytes, int64_t available_bytes);

}  // namespace fq::pipelines
