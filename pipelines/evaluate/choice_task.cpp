#include "pipelines/evaluate/choice_task.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>

#include "lib/core/atomic_file.h"
#include "lib/core/error.h"
#include "lib/core/log.h"
#include "lib/core/stopwatch.h"
#include "lib/io/tokenizer.h"
#include "pipelines/evaluate/shared_prefix.h"

namespace fq::pipelines {
namespace {

// One sequence to score: token ids, and the positions whose next-token log-probabilities count.
struct Sequence {
  std::vector<int64_t> ids;
  int64_t prompt_tokens = 0;  // the continuation starts here
  int subject = 0;            // in the call's subjects
  int question = 0;
  int option = 0;
  int64_t prefix_tokens = 0;  // leading tokens shared with the subject's other prompts (shared_prefix.h)
  int64_t stem_tokens = 0;    // the next ones, shared with the question's other options (loglik)
};

// Scores of every (question, option) of the call's subjects: per subject [questions, 4] on rank 0, nothing
// on the other ranks.
std::vector<at::Tensor> score_sequences(EvalForward& forward, const std::vector<Sequence>& seqs,
                                        const std::vector<int64_t>& questions, ChoiceScoring scoring,
                                        const std::array<int64_t, 4>& letter_ids, int64_t sequences_per_walk) {
  std::vector<TokenWalk> walks;
  std::vector<size_t> sequence_of_row;  // over all walks' rows, in the order forward.run numbers them
  for (size_t begin = 0; begin < seqs.size(); begin += sequences_per_walk) {
    const size_t end = std::min(seqs.size(), begin + static_cast<size_t>(sequences_per_walk));
    std::vector<PrefixedTokens> walk;
    for (size_t i = begin; i < end; ++i) walk.push_back({&seqs[i].ids, seqs[i].prefix_tokens, seqs[i].stem_tokens});
    PrefixGroups groups = group_by_prefix(walk);
    for (size_t i : groups.sequence_of_row) sequence_of_row.push_back(begin + i);
    if (forward.is_root()) {
      // What the walk computes against what whole prompts (right-padded to the longest) would.
      log::info("eval", "walk",
                {{"sequences", static_cast<int64_t>(walk.size())},
                 {"prefixes", static_cast<int64_t>(std::count_if(groups.walk.begin(), groups.walk.end(),
                                                                 [](const auto& b) { return b.prefix.defined(); }))},
                 {"stems", groups.stems},
                 {"tokens", groups.tokens},
                 {"tokens_whole", groups.tokens_whole}});
    }
    walks.push_back(std::move(groups.walk));
  }
  // Per sequence: the four letters' logits (letter) or the option's log-likelihood (loglik, column 0). The
  // hidden states hold the positions after the sequence's prefix and stem.
  const model::RowResults sequence_scores = [&](const model::OutputHead& head, int64_t first_row, const at::Tensor&,
                                                const at::Tensor& hidden) {
    at::Tensor out = at::zeros({hidden.size(0), scoring == ChoiceScoring::kLetter ? 4 : 1}, at::kDouble);
    for (int64_t j = 0; j < hidden.size(0); ++j) {
      const Sequence& s = seqs[sequence_of_row.at(first_row + j)];
      const int64_t n = static_cast<int64_t>(s.ids.size());
      if (scoring == ChoiceScoring::kLetter) {
        // The last prompt position predicts the answer letter: compare the four letters' logits.
        const at::Tensor logits = head.logits(hidden[j][n - 1 - s.prefix_tokens]).to(at::kCPU);
        for (int k = 0; k < 4; ++k) out[j][k] = logits[letter_ids[k]].item<double>();
      } else {
        // Positions prompt-1 .. n-2 predict the continuation's tokens (all after the prefix and the stem, which
        // end before the prompt's last token).
        const int64_t m = n - s.prompt_tokens;
        const at::Tensor read = hidden[j].narrow(0, s.prompt_tokens - 1 - s.prefix_tokens - s.stem_tokens, m);
        const at::Tensor logp = at::log_softmax(head.logits(read).to(at::kDouble), -1).cpu();
        const at::Tensor targets = at::tensor(std::vector<int64_t>(s.ids.begin() + s.prompt_tokens, s.ids.end()), at::kLong);
        out[j][0] = logp.gather(1, targets.unsqueeze(1)).sum().item<double>();
      }
    }
    return out;
  };
  const at::Tensor rows = forward.run(walks, sequence_scores);
  if (!forward.is_root()) return {};
  std::vector<at::Tensor> scores;
  for (int64_t n : questions) scores.push_back(at::full({n, 4}, -1e30, at::kDouble));
  for (size_t r = 0; r < sequence_of_row.size(); ++r) {
    const Sequence& s = seqs[sequence_of_row[r]];
    if (scoring == ChoiceScoring::kLetter) {
      scores[s.subject][s.question].copy_(rows[r]);
    } else {
      scores[s.subject][s.question][s.option] = rows[r][0].item<double>();
    }
  }
  return scores;
}

// A subject's sequences to score, and what building its prompts gave up.
struct SubjectSequences {
  const ChoiceSubject* subject = nullptr;
  std::string progress;   // "k/N" of the subjects
  std::vector<Sequence> seqs;
  int min_shots = 0;
  int64_t truncated = 0;  // questions that lost their first tokens (too long even without shots)
};

SubjectSequences subject_sequences(const io::Tokenizer& tok, const ChoiceTask& task, const ChoiceSubject& s) {
  SubjectSequences out;
  out.subject = &s;
  out.min_shots = task.shots;
  FewShotPrefixes prefixes(tok, task.benchmark, s);
  for (size_t qi = 0; qi < s.eval.size(); ++qi) {
    const ChoiceQuestion& q = s.eval[qi];
    std::vector<std::vector<int64_t>> continuations;
    if (task.scoring == ChoiceScoring::kLoglik) {
      for (int k = 0; k < 4; ++k) {
        const std::string text = answer_continuation(task.benchmark, q, k, task.scoring);
        continuations.push_back(encode_continuation(tok, task.benchmark, text));
        FQ_CHECK(!continuations.back().empty(), s.name, " question ", qi + 1, ": option ", char('A' + k), " is empty");
      }
    }
    int used = 0;
    int64_t dropped = 0;
    const std::vector<int64_t> prompt =
        fitted_prompt(tok, task.benchmark, s, q, task.shots, task.max_tokens, continuations, &used, &dropped);
    out.min_shots = std::min(out.min_shots, used);
    out.truncated += dropped > 0;
    // Every read position (from the prompt's last token on) lies after the shared prefix.
    const int64_t shared = task.reuse_prefix ? prefixes.shared_tokens(used, prompt) : 0;
    const int64_t prompt_tokens = static_cast<int64_t>(prompt.size());
    if (task.scoring == ChoiceScoring::kLetter) {
      out.seqs.push_back({prompt, prompt_tokens, 0, static_cast<int>(qi), 0, shared, 0});
    } else {
      // The four options share the whole prompt: with the reuse, the question after the prefix is their
      // stem, computed once, all but the prompt's last token, whose output predicts each option's first.
      const int64_t stem = task.reuse_prefix ? prompt_tokens - 1 - shared : 0;
      for (int k = 0; k < 4; ++k) {
        Sequence seq{prompt, prompt_tokens, 0, static_cast<int>(qi), k, shared, stem};
        seq.ids.insert(seq.ids.end(), continuations[k].begin(), continuations[k].end());
        out.seqs.push_back(std::move(seq));
      }
    }
  }
  return out;
}

// Per question, the four options' scores (what the prediction is the argmax of).
Json scores_json(const at::Tensor& scores) {
  Json out = Json::array();
  for (int64_t q = 0; q < scores.size(0); ++q) {
    Json row = Json::array();
    for (int k = 0; k < 4; ++k) row.push_back(scores[q][k].item<double>());
    out.push_back(std::move(row));
  }
  return out;
}

Json task_arguments(const ChoiceTask& task, const EvalModel& model) {
  return Json{{"task", choice_benchmark_name(task.benchmark)},
              {"data", task.data.dir},
              {"split", evaluated_split(task.benchmark, task.data.split)},
              {"limit", task.data.limit},
              {"shots", task.shots},
              {"scoring", task.scoring == ChoiceScoring::kLetter ? "letter" : "loglik"},
              {"max_tokens", task.max_tokens},
              {"model", model.describe()}};
}

// Finished subjects of an earlier run with the same arguments (empty when none); other arguments refuse.
Json load_state(const std::string& path, const Json& arguments) {
  if (path.empty() || !std::filesystem::exists(path)) return Json::object();
  const Json state = read_json_file(path);
  FQ_CHECK(state.contains("arguments") && state.contains("subjects"), "'", path, "' is not an evaluation state file");
  for (const auto& [key, value] : arguments.items()) {
    FQ_CHECK(state["arguments"].contains(key) && state["arguments"][key] == value, "'", path,
             "' holds an evaluation with another '", key, "' (", state["arguments"].value(key, Json()).dump(),
             " vs ", value.dump(), "): use another --report or delete it");
  }
  return state["subjects"];
}

}  // namespace

Json aggregate_choice_results(const Json& subjects) {
  Json categories = Json::object();
  int64_t correct = 0, total = 0;
  double macro = 0;
  for (const auto& [name, s] : subjects.items()) {
    const int64_t c = s["correct"].get<int64_t>(), t = s["total"].get<int64_t>();
    Json& cat = categories[s["category"].get<std::string>()];
    if (cat.is_null()) cat = Json{{"correct", int64_t{0}}, {"total", int64_t{0}}};
    cat["correct"] = cat["correct"].get<int64_t>() + c;
    cat["total"] = cat["total"].get<int64_t>() + t;
    correct += c;
    total += t;
    macro += t > 0 ? static_cast<double>(c) / t : 0.0;
  }
  for (auto& [name, cat] : categories.items()) {
    cat["accuracy"] = static_cast<double>(cat["correct"].get<int64_t>()) / std::max<int64_t>(1, cat["total"].get<int64_t>());
  }
  return Json{{"categories", categories},
              {"questions", total},
              {"micro_accuracy", total > 0 ? static_cast<double>(correct) / total : 0.0},
              {"macro_accuracy", subjects.empty() ? 0.0 : macro / static_cast<double>(subjects.size())}};
}

std::string choice_results_table(const Json& report) {
  std::string out;
  char line[256];
  std::snprintf(line, sizeof line, "%-44s %-16s %8s %9s\n", "subject", "category", "questions", "accuracy");
  out += line;
  for (const auto& [name, s] : report["subjects"].items()) {
    std::snprintf(line, sizeof line, "%-44s %-16s %8lld %8.2f%%\n", name.c_str(), s["category"].get<std::string>().c_str(),
                  static_cast<long long>(s["total"].get<int64_t>()), 100 * s["accuracy"].get<double>());
    out += line;
  }
  for (const auto& [name, c] : report["categories"].items()) {
    std::snprintf(line, sizeof line, "%-44s %-16s %8lld %8.2f%%\n", ("[" + name + "]").c_str(), "",
                  static_cast<long long>(c["total"].get<int64_t>()), 100 * c["accuracy"].get<double>());
    out += line;
  }
  std::snprintf(line, sizeof line, "micro accuracy %.2f%% (%lld questions), macro accuracy %.2f%% (%zu subjects)\n",
                100 * report["micro_accuracy"].get<double>(), static_cast<long long>(report["questions"].get<int64_t>()),
                100 * report["macro_accuracy"].get<double>(), report["subjects"].size());
  return out + line;
}

Json run_choice_task(const io::Checkpoint& checkpoint, EvalForward& forward, const EvalModel& model,
                     const ChoiceTask& task) {
  Stopwatch clock;
  const io::Tokenizer tok = io::Tokenizer::from_model_dir(checkpoint.dir());
  const std::vector<ChoiceSubject> subjects = load_choice_subjects(task.benchmark, task.data, task.shots);
  const Json arguments = task_arguments(task, model);
  // Rank 0's view of the state file: every rank must skip the same subjects.
  Json done = forward.from_root([&] { return load_state(task.state_path, arguments); });
  const std::array<int64_t, 4> letter_ids = letter_token_ids(tok, task.benchmark);
  int64_t questions_total = 0, questions_done = 0;
  for (const auto& s : subjects) questions_total += static_cast<int64_t>(s.eval.size());
  Stopwatch work;
  int64_t questions_this_run = 0;
  // Subjects are scored together, one call of the model forward, until the call holds sequences_per_walk
  // sequences: small subjects (C-Eval's val split: ~26 questions each) then share walks through the layers
  // and, over ranks, one pipeline fill and drain. Finished subjects are saved after each call.
  std::vector<SubjectSequences> call;
  size_t call_sequences = 0;
  auto score_call = [&] {
    // Every rank reaches this point for the same subjects (`done` is rank 0's), so the check is collective.
    if (forward.stop_requested()) throw ChoiceTaskStopped{};
    std::vector<Sequence> seqs;
    std::vector<int64_t> questions;
    for (size_t c = 0; c < call.size(); ++c) {
      for (Sequence& seq : call[c].seqs) {
        seq.subject = static_cast<int>(c);
        seqs.push_back(std::move(seq));
      }
      questions.push_back(static_cast<int64_t>(call[c].subject->eval.size()));
    }
    const std::vector<at::Tensor> scores =
        score_sequences(forward, seqs, questions, task.scoring, letter_ids, task.sequences_per_walk);
    if (forward.is_root()) {
      for (size_t c = 0; c < call.size(); ++c) {
        const ChoiceSubject& s = *call[c].subject;
        const at::Tensor predicted = scores[c].argmax(1);
        int64_t correct = 0;
        for (size_t qi = 0; qi < s.eval.size(); ++qi) correct += predicted[qi].item<int64_t>() == s.eval[qi].answer;
        const int64_t total = static_cast<int64_t>(s.eval.size());
        done[s.name] = Json{{"category", s.category},
                            {"correct", correct},
                            {"total", total},
                            {"accuracy", total > 0 ? static_cast<double>(correct) / total : 0.0},
                            {"min_shots", call[c].min_shots},
                            {"truncated_questions", call[c].truncated},
                            {"scores", scores_json(scores[c])}};
        questions_done += total;
        questions_this_run += total;
      }
      if (!task.state_path.empty()) {
        write_json_file_atomic(task.state_path, Json{{"arguments", arguments}, {"subjects", done}});
      }
      const double rate = work.seconds() / std::max<int64_t>(1, questions_this_run);
      for (const SubjectSequences& subject : call) {
        const ChoiceSubject& s = *subject.subject;
        if (subject.truncated > 0) {
          log::warn("eval", "questions too long even without shots lost their first tokens",
                    {{"subject", s.name}, {"questions", subject.truncated}, {"context", task.max_tokens}});
        }
        log::info("eval", "subject done",
                  {{"subject", s.name}, {"n", subject.progress},
                   {"accuracy", done[s.name]["accuracy"].get<double>()}, {"questions", done[s.name]["total"].get<int64_t>()},
                   {"elapsed", log::format_duration(clock.seconds())},
                   {"eta", log::format_duration(rate * static_cast<double>(questions_total - questions_done))}});
      }
    }
    call.clear();
    call_sequences = 0;
  };
  for (size_t si = 0; si < subjects.size(); ++si) {
    const ChoiceSubject& s = subjects[si];
    const std::string progress = std::to_string(si + 1) + "/" + std::to_string(subjects.size());
    if (done.contains(s.name)) {
      FQ_CHECK(done[s.name]["total"].get<int64_t>() == static_cast<int64_t>(s.eval.size()), "'", task.state_path,
               "' holds ", done[s.name]["total"].get<int64_t>(), " questions of ", s.name, ", the data ",
               s.eval.size(), ": the data changed; use another --report or delete it");
      questions_done += static_cast<int64_t>(s.eval.size());
      if (forward.is_root()) log::info("eval", "subject already evaluated", {{"subject", s.name}, {"n", progress}});
      continue;
    }
    SubjectSequences next = subject_sequences(tok, task, s);
    next.progress = progress;
    // A subject that would overfill the call starts the next one, so that a call's walks are full.
    const size_t limit = static_cast<size_t>(task.sequences_per_walk);
    if (!call.empty() && call_sequences + next.seqs.size() > limit) score_call();
    call_sequences += next.seqs.size();
    call.push_back(std::move(next));
    if (call_sequences >= limit) score_call();
  }
  if (!call.empty()) score_call();
  if (!forward.is_root()) return Json::object();
  // The subjects asked for: the state file may also hold others, finished by runs with another --subjects.
  Json results = Json::object();
  for (const ChoiceSubject& s : subjects) results[s.name] = done[s.name];
  Json report = aggregate_choice_results(results);
  report["task"] = choice_benchmark_name(task.benchmark);
  report["split"] = arguments["split"];
  report["scoring"] = arguments["scoring"];
  report["shots"] = task.shots;
  report["subjects"] = results;
  report["seconds"] = clock.seconds();
  return report;
}

}  // namespace fq::pipelines
