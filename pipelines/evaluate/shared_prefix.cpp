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
  PrefixGroups groups;
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
    members[it->second].push_back(i);
  }
  int64_t longest_whole = 0;
  for (size_t b = 0; b < prefixes.size(); ++b) {
    const int64_t shared = static_cast<int64_t>(prefixes[b].size()), n = static_cast<int64_t>(members[b].size());
    int64_t longest = 0;
    for (size_t i : members[b]) {
      longest = std::max<int64_t>(longest, sequences[i].ids->size() - shared);
      longest_whole = std::max<int64_t>(longest_whole, sequences[i].ids->size());
    }
    model::PrefixedTokenRows rows;
    if (shared > 0) rows.prefix = at::tensor(prefixes[b], at::kLong);
    rows.ids = at::zeros({n, longest}, at::kLong);
    for (int64_t r = 0; r < n; ++r) {
      const std::vector<int64_t>& ids = *sequences[members[b][r]].ids;
      rows.ids[r].narrow(0, 0, static_cast<int64_t>(ids.size()) - shared)
          .copy_(at::tensor(std::vector<int64_t>(ids.begin() + shared, ids.end()), at::kLong));
      groups.sequence_of_row.push_back(members[b][r]);
    }
    groups.tokens += shared + n * longest;
    groups.walk.push_back(std::move(rows));
  }
  groups.tokens_whole = static_cast<int64_t>(sequences.size()) * longest_whole;
  return groups;
}

}  // namespace fq::pipelines
