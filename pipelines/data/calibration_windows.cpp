#include "pipelines/data/calibration_windows.h"

#include <ATen/ATen.h>

#include <cstring>
#include <fstream>
#include <sstream>

#include "lib/core/atomic_file.h"
#include "lib/core/error.h"
#include "lib/core/json.h"
#include "lib/core/seeded_rng.h"
#include "lib/io/tokenizer.h"

namespace fq::pipelines {
namespace {

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// NumPy .npy v1/v2/v3 with a little-endian integer dtype, C order.
std::vector<int64_t> read_npy_ids(const std::string& path) {
  const std::string bytes = read_file(path);
  FQ_CHECK(bytes.size() >= 10 && bytes.compare(0, 6, "\x93NUMPY") == 0, "'", path, "' is not a .npy file");
  const int major = static_cast<unsigned char>(bytes[6]);
  size_t header_len, offset;
  if (major == 1) {
    header_len = static_cast<unsigned char>(bytes[8]) | (static_cast<unsigned char>(bytes[9]) << 8);
    offset = 10;
  } else {
    FQ_CHECK(bytes.size() >= 12, "'", path, "': truncated .npy header");
    header_len = 0;
    for (int i = 0; i < 4; ++i) header_len |= static_cast<size_t>(static_cast<unsigned char>(bytes[8 + i])) << (8 * i);
    offset = 12;
  }
  FQ_CHECK(offset + header_len <= bytes.size(), "'", path, "': truncated .npy header");
  const std::string header = bytes.substr(offset, header_len);
  FQ_CHECK(header.find("'fortran_order': False") != std::string::npos, "'", path, "': Fortran-ordered arrays are not supported");
  struct Kind {
    const char* descr;
    size_t size;
    bool is_signed;
  };
  const Kind kinds[] = {{"<i8", 8, true}, {"<i4", 4, true}, {"<u4", 4, false}, {"<u2", 2, false}, {"<i2", 2, true}};
  const Kind* kind = nullptr;
  for (const auto& k : kinds) {
    if (header.find(std::string("'descr': '") + k.descr + "'") != std::string::npos) kind = &k;
  }
  FQ_CHECK(kind, "'", path, "': token ids must be a little-endian int64/int32/uint32/int16/uint16 array (header: ",
           header, ")");
  const char* data = bytes.data() + offset + header_len;
  const size_t n = (bytes.size() - offset - header_len) / kind->size;
  std::vector<int64_t> ids(n);
  for (size_t i = 0; i < n; ++i) {
    const char* p = data + i * kind->size;
    switch (kind->size) {
      case 8: { int64_t v; std::memcpy(&v, p, 8); ids[i] = v; break; }
      case 4: {
        if (kind->is_signed) { int32_t v; std::memcpy(&v, p, 4); ids[i] = v; }
        else { uint32_t v; std::memcpy(&v, p, 4); ids[i] = v; }
        break;
      }
      default: {
        if (kind->is_signed) { int16_t v; std::memcpy(&v, p, 2); ids[i] = v; }
        else { uint16_t v; std::memcpy(&v, p, 2); ids[i] = v; }
      }
    }
  }
  return ids;
}

std::vector<int64_t> read_text_ids(const std::string& path) {
  std::string text = read_file(path);
  for (char& c : text) {
    if (c == ',' || c == '[' || c == ']') c = ' ';
  }
  std::istringstream in(text);
  std::vector<int64_t> ids;
  std::string word;
  while (in >> word) {
    try {
      size_t used = 0;
      ids.push_back(std::stoll(word, &used));
      FQ_CHECK(used == word.size(), "");
    } catch (const std::exception&) {
      throw Error(str("'", path, "': token id file holds a non-integer '", word, "' at id #", ids.size()));
    }
  }
  return ids;
}

at::Tensor windows_from_stream(const std::vector<int64_t>& ids, const WindowSpec& spec, const std::string& what) {
  FQ_CHECK(static_cast<int64_t>(ids.size()) > spec.seqlen, "calibration data '", spec.path, "' has ", ids.size(),
           " ", what, "; one window of data.seqlen=", spec.seqlen, " needs at least ", spec.seqlen + 1);
  SeededRng rng(spec.seed);
  at::Tensor out = at::empty({spec.nsamples, spec.seqlen}, at::kLong);
  auto* dst = out.data_ptr<int64_t>();
  // Starts uniform in [0, len - seqlen - 1], the range of the reference's randint(0, len - seqlen - 1).
  const uint64_t starts = ids.size() - spec.seqlen;
  for (int64_t i = 0; i < spec.nsamples; ++i) {
    const uint64_t start = rng.below(starts);
    std::copy(ids.begin() + start, ids.begin() + start + spec.seqlen, dst + i * spec.seqlen);
  }
  return out;
}

at::Tensor windows_from_documents(const WindowSpec& spec, const io::Tokenizer& tokenizer) {
  std::ifstream in(spec.path);
  FQ_CHECK(in.good(), "cannot open calibration data '", spec.path, "'");
  std::vector<std::string> docs;
  std::string line;
  for (int64_t line_no = 1; std::getline(in, line); ++line_no) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    Json j;
    try {
      j = Json::parse(line);
    } catch (const nlohmann::json::parse_error& e) {
      throw Error(str("'", spec.path, "' line ", line_no, ": not valid JSON (", e.what(), ")"));
    }
    FQ_CHECK(j.is_object() && j.contains("text") && j["text"].is_string(), "'", spec.path, "' line ", line_no,
             ": expected an object with a string field \"text\"");
    docs.push_back(j["text"].get<std::string>());
  }
  FQ_CHECK(!docs.empty(), "calibration data '", spec.path, "' has no documents");
  SeededRng rng(spec.seed);
  at::Tensor out = at::empty({spec.nsamples, spec.seqlen}, at::kLong);
  auto* dst = out.data_ptr<int64_t>();
  // As the reference does for C4: draw documents until one is longer than the window. Give up after a
  // bounded number of draws so that a corpus of short documents is an error, not an endless loop.
  const int64_t max_draws = 100 * spec.nsamples + 10 * static_cast<int64_t>(docs.size());
  int64_t draws = 0;
  for (int64_t i = 0; i < spec.nsamples; ++i) {
    while (true) {
      FQ_CHECK(++draws <= max_draws, "calibration data '", spec.path, "': no document found with more than ",
               "data.seqlen=", spec.seqlen, " tokens after ", max_draws, " draws");
      const std::vector<int64_t> ids = tokenizer.encode(docs[rng.below(docs.size())]);
      if (static_cast<int64_t>(ids.size()) <= spec.seqlen) continue;
      const uint64_t start = rng.below(ids.size() - spec.seqlen);
      std::copy(ids.begin() + start, ids.begin() + start + spec.seqlen, dst + i * spec.seqlen);
      break;
    }
  }
  return out;
}

}  // namespace

std::string resolve_window_format(const std::string& path, const std::string& format) {
  if (format != "auto") return format;
  if (ends_with(path, ".jsonl") || ends_with(path, ".json")) return "jsonl";
  if (ends_with(path, ".npy") || ends_with(path, ".ids") || ends_with(path, ".tokens")) return "tokens";
  return "text";
}

at::Tensor calibration_windows(const WindowSpec& spec, const io::Tokenizer& tokenizer) {
  FQ_CHECK(!spec.path.empty(), "config key 'data.calibration' is empty: name a calibration text");
  FQ_CHECK(spec.nsamples > 0 && spec.seqlen > 1, "calibration windows need nsamples > 0 and seqlen > 1");
  const std::string format = resolve_window_format(spec.path, spec.format);
  if (format == "jsonl") return windows_from_documents(spec, tokenizer);
  if (format == "tokens") {
    std::vector<int64_t> ids = ends_with(spec.path, ".npy") ? read_npy_ids(spec.path) : read_text_ids(spec.path);
    const int64_t vocab = tokenizer.vocab_size();
    for (size_t i = 0; i < ids.size(); ++i) {
      FQ_CHECK(ids[i] >= 0 && ids[i] < vocab, "'", spec.path, "': token id ", ids[i], " at position ", i,
               " is outside the tokenizer's vocabulary of ", vocab);
    }
    return windows_from_stream(ids, spec, "token ids");
  }
  FQ_CHECK(format == "text", "unknown calibration data format '", format, "'");
  return windows_from_stream(tokenizer.encode(read_file(spec.path)), spec, "tokens");
}

}  // namespace fq::pipelines
