// ActivationWriter / ActivationReader: bit-exact round trips, attributes, batching, and the errors a
// caller or a bad file can cause.
#include <filesystem>

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "lib/core/error.h"
#include "lib/store/activation_reader.h"
#include "lib/store/activation_writer.h"
#include "lib/store/h5_attributes.h"
#include "lib/store/h5_handle.h"
#include "tests/support/shared_dir.h"
#include "tests/unit/store/store_test_data.h"

namespace fq::store {
namespace {

using test::activations_with_special_values;
using test::bitwise_equal;
using test::contains;
using test::error_of;

constexpr ActivationShape kShape{6, 5, 24};

// Writes `x` in uneven batches (3, 1, 2 samples) and commits.
void write_in_batches(const std::string& path, const at::Tensor& x, ActivationWriterOptions options = {}) {
  ActivationWriter writer(path, 7, {x.size(0), x.size(1), x.size(2)}, x.scalar_type(), std::move(options));
  writer.write(0, x.slice(0, 0, 3));
  writer.write(5, x.slice(0, 5, 6));
  writer.write(3, x.slice(0, 3, 5));
  EXPECT_EQ(writer.samples_written(), x.size(0));
  writer.commit();
}

class ActivationRoundTrip : public testing::TestWithParam<c10::ScalarType> {};

TEST_P(ActivationRoundTrip, BitExactIncludingSpecialValues) {
  const std::string dir = fq::test::scratch_dir(str("activation_round_trip_", c10::toString(GetParam())));
  const std::string path = dir + "/layer_007.h5";
  const at::Tensor x = activations_with_special_values(GetParam(), kShape.nsamples, kShape.seqlen, kShape.hidden, 11);
  write_in_batches(path, x);

  ActivationReader reader(path);
  EXPECT_EQ(reader.shape(), kShape);
  EXPECT_EQ(reader.dtype(), GetParam());
  EXPECT_EQ(reader.layer(), 7);
  EXPECT_TRUE(bitwise_equal(reader.read(0, kShape.nsamples), x));
  // Other batch boundaries than the writer's.
  EXPECT_TRUE(bitwise_equal(reader.read(2, 3), x.slice(0, 2, 5)));
  EXPECT_TRUE(bitwise_equal(reader.read(5, 1), x.slice(0, 5, 6)));
  at::Tensor buffer = at::empty({2, kShape.seqlen, kShape.hidden}, at::TensorOptions().dtype(GetParam()));
  reader.read_into(1, buffer);
  EXPECT_TRUE(bitwise_equal(buffer, x.slice(0, 1, 3)));
  // Through a chunk cache that holds two samples.
  ActivationReaderOptions cached;
  cached.chunk_cache_chunks = 2;
  EXPECT_TRUE(bitwise_equal(ActivationReader(path, cached).read(1, 4), x.slice(0, 1, 5)));
}

INSTANTIATE_TEST_SUITE_P(Dtypes, ActivationRoundTrip, testing::Values(c10::kBFloat16, c10::kHalf, c10::kFloat),
                         [](const testing::TestParamInfo<c10::ScalarType>& info) {
                           return std::string(c10::toString(info.param));
                         });

TEST(ActivationStore, DeflateRoundTripIsBitExact) {
  const std::string path = fq::test::scratch_dir("activation_deflate") + "/a.h5";
  const at::Tensor x = activations_with_special_values(at::kBFloat16, 6, 5, 24, 12);
  ActivationWriterOptions options;
  options.deflate_level = 4;
  write_in_batches(path, x, options);
  EXPECT_TRUE(bitwise_equal(ActivationReader(path).read(0, 6), x));
}

TEST(ActivationStore, ConvertsOtherFloatTypesToTheStoredOne) {
  const std::string path = fq::test::scratch_dir("activation_convert") + "/a.h5";
  const at::Tensor x = activations_with_special_values(at::kFloat, 2, 3, 8, 13);
  ActivationWriter writer(path, 0, {2, 3, 8}, at::kBFloat16);
  writer.write(0, x.to(at::kDouble));
  writer.commit();
  EXPECT_TRUE(bitwise_equal(ActivationReader(path).read(0, 2), x.to(at::kDouble).to(at::kBFloat16)));
}

TEST(ActivationStore, AttributesRoundTrip) {
  const std::string path = fq::test::scratch_dir("activation_attributes") + "/a.h5";
  ActivationWriterOptions options;
  options.attributes = {{"model_fingerprint", "0123456789abcdef"}, {"nsamples_total", 512}, {"scale", 0.25}};
  ActivationWriter writer(path, 3, {1, 2, 4}, at::kHalf, options);
  writer.write(0, at::ones({1, 2, 4}));
  writer.commit();

  ActivationReader reader(path);
  const Attributes& attributes = reader.attributes();
  EXPECT_EQ(attributes.at("model_fingerprint"), AttributeValue("0123456789abcdef"));
  EXPECT_EQ(attributes.at("nsamples_total"), AttributeValue(512));
  EXPECT_EQ(attributes.at("scale"), AttributeValue(0.25));
  EXPECT_EQ(attributes.at("layer"), AttributeValue(3));
  EXPECT_EQ(attributes.at("dtype"), AttributeValue("float16"));
}

TEST(ActivationStore, AbandonedWriterLeavesNoFileAndNoTemp) {
  const std::string dir = fq::test::scratch_dir("activation_abandoned");
  const at::Tensor x = activations_with_special_values(at::kBFloat16, 4, 2, 8, 14);
  {
    ActivationWriter writer(dir + "/a.h5", 0, {4, 2, 8}, at::kBFloat16);
    writer.write(0, x);
    EXPECT_FALSE(std::filesystem::is_empty(dir)) << "the temporary file should exist while writing";
  }
  EXPECT_TRUE(std::filesystem::is_empty(dir));
  {
    ActivationWriter writer(dir + "/b.h5", 0, {4, 2, 8}, at::kBFloat16);
    writer.write(0, x.slice(0, 0, 2));
    writer.write(3, x.slice(0, 3, 4));
    const std::string message = error_of([&] { writer.commit(); });
    EXPECT_TRUE(contains(message, dir + "/b.h5")) << message;
    EXPECT_TRUE(contains(message, "only 3 of 4 samples")) << message;
    EXPECT_TRUE(contains(message, "first missing: sample 2")) << message;
  }
  EXPECT_TRUE(std::filesystem::is_empty(dir));
}

TEST(ActivationStore, MovedWriterKeepsWriting) {
  const std::string path = fq::test::scratch_dir("activation_moved") + "/a.h5";
  const at::Tensor x = activations_with_special_values(at::kFloat, 2, 2, 4, 15);
  ActivationWriter first(path, 1, {2, 2, 4}, at::kFloat);
  first.write(0, x.slice(0, 0, 1));
  ActivationWriter second(std::move(first));
  second.write(1, x.slice(0, 1, 2));
  second.commit();
  EXPECT_TRUE(bitwise_equal(ActivationReader(path).read(0, 2), x));
}

TEST(ActivationStore, WriterRejectsBadArguments) {
  const std::string dir = fq::test::scratch_dir("activation_writer_errors");
  const std::string path = dir + "/a.h5";
  EXPECT_TRUE(contains(error_of([&] { ActivationWriter(path, 0, {0, 2, 4}, at::kFloat); }), "must be positive"));
  EXPECT_TRUE(contains(error_of([&] { ActivationWriter(path, 0, {1, 2, 4}, at::kLong); }), "not Long"));
  EXPECT_TRUE(contains(error_of([&] {
                         ActivationWriterOptions options;
                         options.attributes = {{"layer", 1}};
                         ActivationWriter(path, 0, {1, 2, 4}, at::kFloat, options);
                       }),
                       "'layer' is reserved"));
  EXPECT_TRUE(contains(error_of([&] {
                         ActivationWriter(dir + "/missing/a.h5", 0, {1, 2, 4}, at::kFloat);
                       }),
                       dir + "/missing/a.h5"));
  // 4 GiB chunk limit: one sample of 65536 x 32768 float32 is 8 GiB.
  EXPECT_TRUE(contains(error_of([&] { ActivationWriter(path, 0, {1, 65536, 32768}, at::kFloat); }), "4 GiB"));

  ActivationWriter writer(path, 0, {2, 3, 4}, at::kFloat);
  EXPECT_TRUE(contains(error_of([&] { writer.write(0, at::zeros({1, 3, 5})); }), "must be [n, 3, 4]"));
  EXPECT_TRUE(contains(error_of([&] { writer.write(1, at::zeros({2, 3, 4})); }), "samples [1, 3) are outside [0, 2)"));
  EXPECT_TRUE(contains(error_of([&] { writer.write(0, at::zeros({1, 3, 4}, at::kInt)); }), "floating point"));
  writer.write(0, at::zeros({2, 3, 4}));
  writer.commit();
  EXPECT_TRUE(contains(error_of([&] { writer.write(0, at::zeros({1, 3, 4})); }), "write after commit"));
  EXPECT_TRUE(contains(error_of([&] { writer.commit(); }), "already committed"));
}

class ActivationReaderErrors : public testing::Test {
 protected:
  void SetUp() override {
    dir_ = fq::test::scratch_dir("activation_reader_errors");
    path_ = dir_ + "/layer_002.h5";
    ActivationWriterOptions options;
    options.attributes = {{"model_fingerprint", "abc"}};
    ActivationWriter writer(path_, 2, {3, 4, 8}, at::kBFloat16, options);
    writer.write(0, activations_with_special_values(at::kBFloat16, 3, 4, 8, 16));
    writer.commit();
  }

  std::string open_error(const ActivationExpectations& expect) {
    ActivationReaderOptions options;
    options.expect = expect;
    return error_of([&] { ActivationReader(path_, options); });
  }

  std::string dir_;
  std::string path_;
};

TEST_F(ActivationReaderErrors, ExpectationMismatchesNameFileFieldAndValues) {
  ActivationExpectations expect;
  expect.layer = 3;
  std::string message = open_error(expect);
  EXPECT_TRUE(contains(message, path_) && contains(message, "layer mismatch: expected 3, the file has 2")) << message;

  expect = {};
  expect.shape = ActivationShape{3, 4, 16};
  message = open_error(expect);
  EXPECT_TRUE(contains(message, "shape mismatch: expected [3, 4, 16], the file has [3, 4, 8]")) << message;

  expect = {};
  expect.dtype = at::kHalf;
  message = open_error(expect);
  EXPECT_TRUE(contains(message, "dtype mismatch: expected float16, the file has bfloat16")) << message;

  expect = {};
  expect.attributes = {{"model_fingerprint", "abd"}};
  message = open_error(expect);
  EXPECT_TRUE(contains(message, "attribute 'model_fingerprint' mismatch: expected 'abd', the file has 'abc'"))
      << message;

  expect = {};
  expect.attributes = {{"config_hash", "123"}};
  message = open_error(expect);
  EXPECT_TRUE(contains(message, "attribute 'config_hash' mismatch: expected '123', the file has none")) << message;

  expect = {};
  expect.layer = 2;
  expect.shape = ActivationShape{3, 4, 8};
  expect.dtype = at::kBFloat16;
  expect.attributes = {{"model_fingerprint", "abc"}};
  EXPECT_EQ(open_error(expect), "(no error)");
}

TEST_F(ActivationReaderErrors, DtypeAttributeMustAgreeWithTheHdf5Type) {
  {
    H5File file(H5Fopen(path_.c_str(), H5F_ACC_RDWR, H5P_DEFAULT));
    ASSERT_TRUE(file.valid());
    H5Dataset dataset(H5Dopen2(file.get(), "activations", H5P_DEFAULT));
    write_attribute(dataset.get(), "dtype", "float16", "test");
  }
  const std::string message = open_error({});
  EXPECT_TRUE(contains(message, path_)) << message;
  EXPECT_TRUE(contains(message, "'dtype' says 'float16' but the HDF5 element type is bfloat16")) << message;
}

TEST_F(ActivationReaderErrors, ReadRangeAndBufferErrors) {
  ActivationReader reader(path_);
  EXPECT_TRUE(contains(error_of([&] { reader.read(2, 2); }), "samples [2, 4) are outside [0, 3)"));
  EXPECT_TRUE(contains(error_of([&] { reader.read(0, 0); }), "cannot read 0 samples"));
  EXPECT_TRUE(contains(error_of([&] { reader.read(0, -2); }), "cannot read -2 samples"));
  EXPECT_TRUE(contains(error_of([&] { reader.read(-1, 2); }), "samples [-1, 1) are outside [0, 3)"));
  EXPECT_TRUE(contains(error_of([&] {
                         reader.read_into(0, at::empty({1, 4, 8}, at::kFloat));
                       }),
                       "contiguous CPU bfloat16 tensor [n, 4, 8]"));
  EXPECT_TRUE(contains(error_of([&] {
                         reader.read_into(0, at::empty({4, 8, 1}, at::kBFloat16).transpose(1, 2));
                       }),
                       "contiguous"));
}

TEST_F(ActivationReaderErrors, FilesThatAreNotActivationFiles) {
  // No "activations" dataset.
  const std::string other = dir_ + "/other.h5";
  {
    H5File file(H5Fcreate(other.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT));
    ASSERT_TRUE(file.valid());
  }
  std::string message = error_of([&] { ActivationReader reader(other); });
  EXPECT_TRUE(contains(message, other) && contains(message, "no dataset 'activations'")) << message;

  // Rank 2, and a sample never written.
  const std::string flat = dir_ + "/flat.h5";
  {
    H5File file(H5Fcreate(flat.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT));
    const hsize_t dims[2] = {4, 8};
    H5Dataspace space(H5Screate_simple(2, dims, nullptr));
    H5Dataset dataset(
        H5Dcreate2(file.get(), "activations", H5T_IEEE_F32LE, space.get(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT));
    write_attribute(dataset.get(), "dtype", "float32", "test");
  }
  message = error_of([&] { ActivationReader reader(flat); });
  EXPECT_TRUE(contains(message, flat) && contains(message, "expected rank 3")) << message;

  message = error_of([&] { ActivationReader reader(dir_ + "/absent.h5"); });
  EXPECT_TRUE(contains(message, dir_ + "/absent.h5") && contains(message, "no such file")) << message;
}

TEST_F(ActivationReaderErrors, UnwrittenSamplesAreAnError) {
  // A file made by another tool, with one of its two chunks never written.
  const std::string partial = dir_ + "/partial.h5";
  {
    H5File file(H5Fcreate(partial.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT));
    const hsize_t dims[3] = {2, 2, 4};
    const hsize_t chunk[3] = {1, 2, 4};
    H5Dataspace space(H5Screate_simple(3, dims, nullptr));
    H5PropList dcpl(H5Pcreate(H5P_DATASET_CREATE));
    H5Pset_chunk(dcpl.get(), 3, chunk);
    H5Dataset dataset(
        H5Dcreate2(file.get(), "activations", H5T_IEEE_F32LE, space.get(), H5P_DEFAULT, dcpl.get(), H5P_DEFAULT));
    write_attribute(dataset.get(), "dtype", "float32", "test");
    write_attribute(dataset.get(), "layer", 0, "test");
    const float sample[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    const hsize_t start[3] = {0, 0, 0};
    H5Dataspace memory(H5Screate_simple(3, chunk, nullptr));
    H5Sselect_hyperslab(space.get(), H5S_SELECT_SET, start, nullptr, chunk, nullptr);
    ASSERT_GE(H5Dwrite(dataset.get(), H5T_NATIVE_FLOAT, memory.get(), space.get(), H5P_DEFAULT, sample), 0);
  }
  const std::string message = error_of([&] { ActivationReader reader(partial); });
  EXPECT_TRUE(contains(message, partial) && contains(message, "never written")) << message;
}

}  // namespace
}  // namespace fq::store
