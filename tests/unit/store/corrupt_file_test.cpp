// Damaged files: truncation at any byte, garbage, flipped metadata bytes. Each must be an fq::Error naming
// the file (or, for bytes HDF5 never reads, the original data): never a crash, a hang or silent garbage.
// Raw data bytes carry no checksum (see lib/store/activation_writer.h), so flips there are not tested.
#include <fstream>

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "lib/core/atomic_file.h"
#include "lib/core/error.h"
#include "lib/store/activation_reader.h"
#include "lib/store/activation_writer.h"
#include "lib/store/hdf5_verify.h"
#include "lib/store/tensor_archive_reader.h"
#include "lib/store/tensor_archive_writer.h"
#include "tests/support/shared_dir.h"
#include "tests/unit/store/store_test_data.h"

namespace fq::store {
namespace {

using test::contains;

constexpr ActivationShape kShape{4, 16, 64};

void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  ASSERT_TRUE(out.good()) << path;
}

class CorruptFile : public testing::Test {
 protected:
  void SetUp() override {
    dir_ = fq::test::scratch_dir("corrupt_file");
    x_ = test::activations_with_special_values(at::kBFloat16, kShape.nsamples, kShape.seqlen, kShape.hidden, 31);
    ActivationWriterOptions options;
    options.attributes = {{"model_fingerprint", "0123456789abcdef"}};
    ActivationWriter writer(dir_ + "/good.h5", 5, kShape, at::kBFloat16, options);
    writer.write(0, x_);
    writer.commit();
    good_ = read_file(dir_ + "/good.h5");
  }

  // Opens `bytes` as an activation file and reads every sample: "error: <message>", "same" or "different".
  std::string outcome(const std::string& bytes) {
    const std::string path = dir_ + "/damaged.h5";
    write_bytes(path, bytes);
    try {
      ActivationReader reader(path);
      const bool same = test::bitwise_equal(reader.read(0, kShape.nsamples), x_);
      verify_hdf5_file(path);
      return same ? "same" : "different";
    } catch (const Error& e) {
      EXPECT_TRUE(contains(e.what(), path)) << "error does not name the file: " << e.what();
      return std::string("error: ") + e.what();
    }
  }

  std::string dir_;
  at::Tensor x_;
  std::string good_;
};

TEST_F(CorruptFile, TruncationAtAnyOffsetIsAnError) {
  const size_t size = good_.size();
  for (size_t cut :
       {size_t{0}, size_t{1}, size_t{7}, size_t{48}, size_t{512}, size / 4, size / 2, size - 2048, size - 1}) {
    const std::string result = outcome(good_.substr(0, cut));
    EXPECT_TRUE(contains(result, "error: ")) << "cut at " << cut << " of " << size << ": " << result;
  }
  EXPECT_TRUE(contains(outcome(good_.substr(0, size / 2)), "truncated"));
}

TEST_F(CorruptFile, GarbageIsAnError) {
  std::string garbage(good_.size(), '\0');
  std::uint64_t state = 0x9E3779B97F4A7C15ull;
  for (char& c : garbage) {
    state = state * 6364136223846793005ull + 1442695040888963407ull;
    c = static_cast<char>(state >> 56);
  }
  EXPECT_TRUE(contains(outcome(garbage), "not an HDF5 file"));
  // A valid signature followed by garbage.
  EXPECT_TRUE(contains(outcome(good_.substr(0, 8) + garbage.substr(8)), "error: "));
  // Text where a file was expected.
  EXPECT_TRUE(contains(outcome("{\"this\": \"is json\"}\n"), "error: "));
}

TEST_F(CorruptFile, FlippedMetadataBytesAreErrorsOrHarmless) {
  // HDF5 1.10-format metadata is checksummed: a flipped byte outside the raw data either fails a checksum
  // or lies in bytes nothing reads.
  const std::string first_sample(static_cast<const char*>(x_.data_ptr()), kShape.seqlen * kShape.hidden * 2);
  const size_t data_begin = good_.find(first_sample);
  ASSERT_NE(data_begin, std::string::npos);
  const size_t data_end = data_begin + first_sample.size() * kShape.nsamples;
  int errors = 0;
  for (size_t offset = 0; offset < good_.size(); offset += 7) {
    if (offset >= data_begin && offset < data_end) continue;
    std::string damaged = good_;
    damaged[offset] = static_cast<char>(damaged[offset] ^ 0x5A);
    const std::string result = outcome(damaged);
    EXPECT_TRUE(result == "same" || contains(result, "error: ")) << "flip at " << offset << ": " << result;
    errors += contains(result, "error: ");
  }
  EXPECT_GT(errors, 20) << "the sweep should hit checksummed metadata";
}

TEST_F(CorruptFile, DamagedTensorArchiveIsAnError) {
  const std::string path = dir_ + "/archive.h5";
  {
    TensorArchiveWriter writer(path);
    writer.put("layer_000/attn_in/left", at::ones({4, 4}));
    writer.set_attribute("layer_000", "loss", 0.5);
    writer.commit();
  }
  const std::string bytes = read_file(path);
  write_bytes(path, bytes.substr(0, bytes.size() - 1));
  std::string message;
  try {
    TensorArchiveReader reader(path);
  } catch (const Error& e) {
    message = e.what();
  }
  EXPECT_TRUE(contains(message, path) && contains(message, "truncated")) << message;
}

}  // namespace
}  // namespace fq::store
