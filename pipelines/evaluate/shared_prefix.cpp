#include "pipelines/evaluate/shared_prefix.h"

#include <ATen/ATen.h>

#include <algorithm>

#include "lib/core/error.h"
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

PrefixGroups group_by_prefix(const std::vector<PrefixedTokens>& sequences) {
  using Tokens = std::vector<int64_t>;
  // Batches by prefix tokens, in order of first appearance; the empty prefix is the batch computed whole.
  // Within each, groups by stem tokens; the empty stem is the group whose rows follow the prefix directly.
  struct Batch {
    Tokens prefix;
    bool has_stems = false;
    std::map<Tokens, size_t> group_of;
    std::vector<Tokens> stems;
    std::vector<std::vector<size_t>> members;  // per group
  };
  std::map<Tokens, size_t> batch_of;
  std::vector<Batch> batches;
  int64_t longest_whole = 0;
  for (size_t i = 0; i < sequences.size(); ++i) {
    const Tokens& ids = *sequences[i].ids;
    const int64_t shared = sequences[i].prefix_tokens, stem = sequences[i].stem_tokens;
    FQ_CHECK(shared >= 0 && stem >= 0 && shared + stem < static_cast<int64_t>(ids.size()), "sequence ", i, " of ",
             ids.size(), " tokens cannot share a prefix of ", shared, " and a stem of ", stem);
    longest_whole = std::max<int64_t>(longest_whole, ids.size());
    const auto [b, new_batch] = batch_of.emplace(Tokens(ids.begin(), ids.begin() + shared), batches.size());
    if (new_batch) batches.push_back(Batch{b->first, false, {}, {}, {}});
    Batch& batch = batches[b->second];
    batch.has_stems = batch.has_stems || stem > 0;
    const auto [g, new_group] =
        batch.group_of.emplace(Tokens(ids.begin() + shared, ids.begin() + shared + stem), batch.stems.size());
    if (new_group) {
      batch.stems.push_back(g->first);
      batch.members.emplace_back();
    }
    batch.members[g->second].push_back(i);
  }
  PrefixGroups groups;
  for (const Batch& batch : batches) {
    const int64_t shared = static_cast<int64_t>(batch.prefix.size());
    int64_t n = 0, longest = 0;
    for (size_t g = 0; g < batch.stems.size(); ++g) {
      for (size_t i : batch.members[g]) {
        longest = std::max<int64_t>(longest, sequences[i].ids->size() - shared - batch.stems[g].size());
        ++n;
      }
    }
    model::PrefixedTokenRows rows;
    if (shared > 0) rows.prefix = at::tensor(batch.prefix, at::kLong);
    rows.ids = at::zeros({n, longest}, at::kLong);
    int64_t r = 0;
    for (size_t g = 0; g < batch.stems.size(); ++g) {
      const int64_t stem = static_cast<int64_t>(batch.stems[g].size());
      for (size_t i : batch.members[g]) {
        const Tokens& ids = *sequences[i].ids;
        rows.ids[r++].narrow(0, 0, static_cast<int64_t>(ids.size()) - shared - stem)
            .copy_(at::tensor(Tokens(ids.begin() + shared + stem, ids.end()), at::kLong));
        groups.sequence_of_row.push_back(i);
      }
      if (batch.has_stems) {
        rows.stems.push_back(stem > 0 ? at::tensor(batch.stems[g], at::kLong) : at::Tensor());
        rows.group_rows.push_back(static_cast<int64_t>(batch.members[g].size()));
        groups.tokens += stem;
        groups.stems += stem > 0;
      }
    }
    groups.tokens += shared + n * longest;
    groups.walk.push_back(std::move(rows));
  }
  groups.tokens_whole = static_cast<int64_t>(sequences.size()) * longest_whole;
  return groups;
}

}  // namespace fq::pipelines
