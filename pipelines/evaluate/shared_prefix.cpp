#include "pipelines/evaluate/shared_prefix.h"

#include <ATen/ATen.h>

#include <algorithm>

#include "lib/core/error.h"
#include "lib/core/log.h"
#include "pipelines/evaluate/choice_prompt.h"

namespace fq::pipelines {

FewShotPrefixes::FewShotPrefixes(const io::Tokenizer& tok, ChoiceBenchmark benchmark, const ChoiceSubject& subject)
    : tok_(tok), benchmark_(benchmark), subject_(subject) {}

int64_t FewShotPrefixes::shared_tokens(int shots, const std::vector<int64_t>& prompt) {
  auto it = encoded_.find(shots);
  if (it == encoded_.end()) {
    it = encoded_.emplace(shots, tok_.encode(few_shot_prefix(benchmark_, subject_, shots), true)).first;
  }
  const std::vector<int64_t>& prefix = it->second;
  const bool token_prefix = prefix.size() < prompt.size() && std::equal(prefix.begin(), prefix.end(), prompt.begin());
  return token_prefix ? static_cast<int64_t>(prefix.size()) : 0;
}

at::Tensor SequenceStates::positions(size_t i, int64_t first, int64_t count) const {
  const Slot& slot = slots_.at(i);
  FQ_CHECK(first >= slot.first_position, "position ", first, " of sequence ", i, " lies in its shared prefix of ",
           slot.first_position, " tokens, whose outputs are not kept");
  return batches_[slot.batch][slot.row].narrow(0, first - slot.first_position, count);
}

SequenceStates run_prefixed_sequences(const io::Checkpoint& checkpoint, const std::vector<PrefixedTokens>& sequences,
                                      const model::ModelOptions& options, const model::HooksForLayer& hooks) {
  SequenceStates states;
  // Batches by prefix tokens, in order of first appearance; the empty prefix is the batch computed whole.
  std::map<std::vector<int64_t>, size_t> batch_of;
  std::vector<std::vector<int64_t>> prefixes;
  std::vector<std::vector<size_t>> members;
  for (size_t i = 0; i < sequences.size(); ++i) {
    const std::vector<int64_t>& ids = *sequences[i].ids;
    const int64_t shared = sequences[i].prefix_tokens;
    FQ_CHECK(shared >= 0 && shared < static_cast<int64_t>(ids.size()), "sequence ", i, " of ", ids.size(),
             " tokens cannot share a prefix of ", shared);
    std::vector<int64_t> prefix(ids.begin(), ids.begin() + shared);
    const auto [it, added] = batch_of.emplace(std::move(prefix), prefixes.size());
    if (added) {
      prefixes.push_back(it->first);
      members.emplace_back();
    }
    states.slots_.push_back({it->second, static_cast<int64_t>(members[it->second].size()), shared});
    members[it->second].push_back(i);
  }
  // One embedding lookup for every token (it reads the embedding from the checkpoint): per batch its prefix,
  // then its sequences' own tokens, right-padded (causal attention keeps the padding out of every position
  // that is read).
  std::vector<int64_t> flat;
  std::vector<int64_t> longest(prefixes.size(), 0);
  int64_t longest_whole = 0;
  for (size_t b = 0; b < prefixes.size(); ++b) {
    flat.insert(flat.end(), prefixes[b].begin(), prefixes[b].end());
    for (size_t i : members[b]) {
      longest[b] = std::max<int64_t>(longest[b], sequences[i].ids->size() - prefixes[b].size());
      longest_whole = std::max<int64_t>(longest_whole, sequences[i].ids->size());
    }
    for (size_t i : members[b]) {
      const std::vector<int64_t>& ids = *sequences[i].ids;
      flat.insert(flat.end(), ids.begin() + prefixes[b].size(), ids.end());
      flat.resize(flat.size() + longest[b] - (ids.size() - prefixes[b].size()), 0);
    }
  }
  const at::Tensor embedded =
      model::embed_tokens(checkpoint, at::tensor(flat, at::kLong).unsqueeze(0), options).squeeze(0);  // [T, hidden]
  std::vector<model::PrefixedBatch> batches;
  int64_t offset = 0;
  for (size_t b = 0; b < prefixes.size(); ++b) {
    const int64_t shared = static_cast<int64_t>(prefixes[b].size()), n = static_cast<int64_t>(members[b].size());
    model::PrefixedBatch batch;
    if (shared > 0) batch.prefix = embedded.narrow(0, offset, shared).unsqueeze(0);
    offset += shared;
    batch.hidden = embedded.narrow(0, offset, n * longest[b]).view({n, longest[b], embedded.size(1)});
    offset += n * longest[b];
    batches.push_back(std::move(batch));
  }
  // What the walk computes against what whole prompts (right-padded to the longest) would.
  log::info("eval", "walk",
             {{"sequences", static_cast<int64_t>(sequences.size())},
              {"prefixes", static_cast<int64_t>(std::count_if(prefixes.begin(), prefixes.end(),
                                                              [](const auto& p) { return !p.empty(); }))},
              {"tokens", offset},
              {"tokens_whole", static_cast<int64_t>(sequences.size()) * longest_whole}});
  states.batches_ = model::run_decoder_layers(checkpoint, batches, options, hooks);
  return states;
}

}  // namespace fq::pipelines
