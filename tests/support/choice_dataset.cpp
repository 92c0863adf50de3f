#include "tests/support/choice_dataset.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <utility>

namespace fq::test {
namespace {

constexpr int kQuestionWords = 8, kAnswerWords = 5;

std::string csv_field(const std::string& s) {
  std::string out = "\"";
  for (char c : s) out += c == '"' ? std::string("\"\"") : std::string(1, c);
  return out + "\"";
}

}  // namespace

std::vector<ChoiceItem> make_choice_items(const std::string& text, uint32_t seed) {
  std::vector<std::pair<std::string, std::string>> spans;
  std::string sentence;
  auto flush = [&] {
    std::istringstream in(sentence);
    std::vector<std::string> words;
    for (std::string w; in >> w;) words.push_back(w);
    sentence.clear();
    if (words.size() < kQuestionWords + kAnswerWords) return;
    std::string q, a;
    for (int i = 0; i < kQuestionWords; ++i) q += (i ? " " : "") + words[i];
    for (int i = kQuestionWords; i < kQuestionWords + kAnswerWords; ++i) a += (i > kQuestionWords ? " " : "") + words[i];
    spans.emplace_back(q, a);
  };
  for (char c : text) {
    if (c == '.' || c == ';' || c == ':' || c == '?') flush();
    else sentence += (c == '\n' ? ' ' : c);
  }
  std::mt19937 rng(seed);
  std::vector<ChoiceItem> items;
  for (size_t i = 0; i < spans.size(); ++i) {
    std::istringstream in(spans[i].second);
    std::vector<std::string> words;
    for (std::string w; in >> w;) words.push_back(w);
    std::vector<std::string> options{spans[i].second};
    for (int tries = 0; options.size() < 4 && tries < 100; ++tries) {
      std::shuffle(words.begin(), words.end(), rng);
      std::string shuffled;
      for (const auto& w : words) shuffled += (shuffled.empty() ? "" : " ") + w;
      if (std::find(options.begin(), options.end(), shuffled) == options.end()) options.push_back(shuffled);
    }
    if (options.size() < 4) continue;
    ChoiceItem item;
    item.question = "Which words come next? " + spans[i].first + " ...";
    item.answer = static_cast<int>(rng() % 4);
    std::swap(options[0], options[item.answer]);
    item.options = options;
    items.push_back(item);
  }
  return items;
}

void write_choice_dataset(const std::string& dir, bool ceval, const std::vector<ChoiceItem>& items, int subjects,
                          int per_subject) {
  const std::string split = ceval ? "val" : "test";
  std::filesystem::create_directories(dir + "/dev");
  std::filesystem::create_directories(dir + "/" + split);
  size_t next = 0;
  const char* names[] = {"high_school_world_history", "college_physics", "virology"};
  for (int s = 0; s < subjects; ++s) {
    for (const auto& [part, count] : {std::pair<std::string, int>{"dev", 5}, {split, per_subject}}) {
      std::ofstream out(dir + "/" + part + "/" + names[s] + "_" + part + ".csv");
      if (ceval) out << "id,question,A,B,C,D,answer" << (part == "dev" ? ",explanation" : "") << "\n";
      for (int i = 0; i < count; ++i, ++next) {
        const ChoiceItem& it = items.at(next);
        if (ceval) out << i << ",";
        out << csv_field(it.question);
        for (const auto& o : it.options) out << "," << csv_field(o);
        out << "," << static_cast<char>('A' + it.answer);
        if (ceval && part == "dev") out << ",";
        out << "\n";
      }
    }
  }
}

ChoiceScoreAgreement expect_choice_scores_agree(const Json& expected, const Json& actual, const std::string& what,
                                                int questions) {
  ChoiceScoreAgreement a;
  EXPECT_EQ(expected["subjects"].size(), actual["subjects"].size()) << what;
  for (const auto& [name, subject] : expected["subjects"].items()) {
    if (!actual["subjects"].contains(name)) {
      ADD_FAILURE() << what << ": subject " << name << " missing";
      continue;
    }
    const Json& other = actual["subjects"][name];
    EXPECT_EQ(subject["correct"], other["correct"]) << what << " " << name;
    if (questions > 0) EXPECT_EQ(subject["scores"].size(), static_cast<size_t>(questions)) << what << " " << name;
    if (subject["scores"].size() != other["scores"].size()) {
      ADD_FAILURE() << what << " " << name << ": " << subject["scores"].size() << " vs " << other["scores"].size()
                    << " questions";
      continue;
    }
    for (size_t q = 0; q < subject["scores"].size(); ++q) {
      for (int k = 0; k < 4; ++k) {
        const double x = subject["scores"][q][k].get<double>(), y = other["scores"][q][k].get<double>();
        a.worst = std::max(a.worst, std::abs(x - y));
        ++a.scores;
        a.within_float_order += std::abs(x - y) <= kFloatOrderScoreTol;
        EXPECT_NEAR(x, y, kCodeStepScoreTol) << what << " " << name << " question " << q << " option " << k;
      }
    }
  }
  EXPECT_GT(a.scores, 0) << what;
  EXPECT_GE(a.within_float_order, kFloatOrderShare * a.scores) << what;
  EXPECT_EQ(expected["micro_accuracy"], actual["micro_accuracy"]) << what;
  EXPECT_EQ(expected["categories"], actual["categories"]) << what;
  return a;
}

}  // namespace fq::test
