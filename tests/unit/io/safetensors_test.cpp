#include "lib/io/safetensors.h"

#include <filesystem>
#include <fstream>

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "lib/core/atomic_file.h"
#include "tests/support/expect_error.h"
#include "tests/support/process_memory.h"
#include "tests/support/shared_dir.h"

namespace fq::io {
namespace {

// A file laid out by hand: u64 header length, the header text as given, `data_bytes` bytes of data.
std::string write_raw(const std::string& dir, const std::string& header, std::size_t data_bytes,
                      std::uint64_t claimed_header_bytes = 0) {
  static int counter = 0;  // a fresh name per file, so messages point at the right one
  const std::string path = str(dir, "/raw", counter++, ".safetensors");
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  std::uint64_t n = claimed_header_bytes ? claimed_header_bytes : header.size();
  for (int i = 0; i < 8; ++i) out.put(static_cast<char>((n >> (8 * i)) & 0xff));
  out << header << std::string(data_bytes, '\x01');
  return path;
}

at::Tensor random_of(c10::ScalarType type, std::vector<int64_t> shape, int seed) {
  at::manual_seed(seed);
  switch (type) {
    case c10::kBool:
      return at::rand(shape) > 0.5;
    case c10::kByte:
      return at::randint(0, 256, shape, at::kByte);
    case c10::kChar:
      return at::randint(-128, 128, shape, at::kChar);
    case c10::kShort:
      return at::randint(-30000, 30000, shape, at::kShort);
    case c10::kInt:
      return at::randint(-2000000000LL, 2000000000LL, shape, at::kInt);
    case c10::kLong:
      return at::randint(-(1LL << 62), 1LL << 62, shape, at::kLong);
    default:
      return at::randn(shape, at::kDouble).mul(100).to(type);
  }
}

TEST(Safetensors, RoundTripsEveryDtypeBitExactly) {
  const std::string dir = test::scratch_dir("st_roundtrip");
  const std::vector<std::pair<c10::ScalarType, StDtype>> types = {
      {c10::kDouble, StDtype::kF64},    {c10::kFloat, StDtype::kF32}, {c10::kHalf, StDtype::kF16},
      {c10::kBFloat16, StDtype::kBF16}, {c10::kLong, StDtype::kI64},  {c10::kInt, StDtype::kI32},
      {c10::kShort, StDtype::kI16},     {c10::kChar, StDtype::kI8},   {c10::kByte, StDtype::kU8},
      {c10::kBool, StDtype::kBool}};
  std::vector<NamedTensor> tensors;
  int seed = 1;
  for (const auto& [type, st] : types) {
    tensors.push_back({str("t.", st_dtype_name(st)), random_of(type, {3, 5, 7}, seed++)});
  }
  tensors.push_back({"fp8.weight", random_of(c10::kByte, {130, 3}, seed++), /*fp8_e4m3=*/true});
  tensors.push_back({"empty", at::zeros({0, 4}, at::kFloat)});
  tensors.push_back({"scalar", at::full({}, 2.5, at::kFloat)});
  write_safetensors(dir + "/a.safetensors", tensors, {{"format", "pt"}, {"note", "x"}});

  SafetensorsFile file(dir + "/a.safetensors");
  EXPECT_EQ(file.metadata().at("note"), "x");
  ASSERT_EQ(file.names().size(), tensors.size());
  for (std::size_t i = 0; i < tensors.size(); ++i) {
    const NamedTensor& want = tensors[i];
    EXPECT_EQ(file.names()[i], want.name) << "names() must follow file order";
    at::Tensor got = file.read(want.name);
    EXPECT_EQ(got.scalar_type(), want.tensor.scalar_type()) << want.name;
    EXPECT_EQ(got.sizes(), want.tensor.sizes()) << want.name;
    EXPECT_TRUE(at::equal(got, want.tensor)) << want.name;
  }
  EXPECT_EQ(file.info("fp8.weight").dtype, StDtype::kF8E4M3);
  EXPECT_EQ(file.info("t.BF16").dtype, StDtype::kBF16);
  // The data buffer starts 8-byte aligned, as the reference writer pads it.
  EXPECT_EQ(file.info("t.F64").begin, 0u);
  const std::uint64_t data_bytes = file.info(file.names().back()).end;
  EXPECT_EQ((std::filesystem::file_size(dir + "/a.safetensors") - data_bytes) % 8, 0u);
}

TEST(Safetensors, ReadsTheSharedCheckpointHeader) {
  FQ_REQUIRE_SHARED();
  SafetensorsFile file(test::shared_path("models/tiny-llama3/model.safetensors"));
  const TensorInfo& q = file.info("model.layers.0.self_attn.q_proj.weight");
  EXPECT_EQ(q.dtype, StDtype::kBF16);
  EXPECT_EQ(q.shape, (std::vector<int64_t>{256, 256}));
  at::Tensor norm = file.read("model.layers.0.input_layernorm.weight");
  EXPECT_EQ(norm.scalar_type(), c10::kBFloat16);
  EXPECT_EQ(norm.sizes(), (c10::IntArrayRef{256}));
  EXPECT_EQ(file.metadata().at("format"), "pt");
}

TEST(Safetensors, StreamingWriterAcceptsPartsInDeclaredOrder) {
  const std::string dir = test::scratch_dir("st_stream");
  const std::string path = dir + "/s.safetensors";
  at::Tensor a = random_of(c10::kBFloat16, {10, 6}, 3);
  at::Tensor b = random_of(c10::kFloat, {4}, 4);
  {
    SafetensorsWriter w(path, {{"a", StDtype::kBF16, {10, 6}}, {"z", StDtype::kF32, {0}}, {"b", StDtype::kF32, {4}}});
    w.append("a", a.slice(0, 0, 3));
    w.append("a", a.slice(0, 3, 10));
    EXPECT_FALSE(std::filesystem::exists(path)) << "nothing may appear under the final name before finish()";
    w.append("b", b);  // the zero-sized "z" is skipped over
    EXPECT_EQ(w.written_bytes(), w.total_bytes());
    w.finish();
  }
  SafetensorsFile file(path);
  EXPECT_TRUE(at::equal(file.read("a"), a));
  EXPECT_TRUE(at::equal(file.read("b"), b));
  EXPECT_EQ(file.read("z").numel(), 0);
}

TEST(Safetensors, StreamingWriterRefusesMisuseAndLeavesNoFile) {
  const std::string dir = test::scratch_dir("st_stream_bad");
  const std::string path = dir + "/s.safetensors";
  {
    SafetensorsWriter w(path, {{"a", StDtype::kF32, {2, 2}}, {"b", StDtype::kF32, {2}}});
    test::expect_error([&] { w.append("b", at::ones({2})); }, {path, "'b'", "out of the declared order", "'a'"});
    test::expect_error([&] { w.append("a", at::ones({2, 2}, at::kDouble)); }, {path, "'a'", "F32"});
    w.append("a", at::ones({2, 2}));
    test::expect_error([&] { w.append("a", at::ones({1})); }, {path, "'a'"});
    test::expect_error([&] { w.finish(); }, {path, "'b'", "incomplete"});
  }
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    ADD_FAILURE() << "left behind: " << e.path();
  }
  test::expect_error(
      [&] {
        SafetensorsWriter(path, {{"a", StDtype::kF32, {1}}, {"a", StDtype::kF32, {1}}});
      },
      {path, "'a'", "twice"});
}

TEST(Safetensors, WriterReplacesAnExistingFileAtomically) {
  const std::string dir = test::scratch_dir("st_replace");
  const std::string path = dir + "/r.safetensors";
  write_safetensors(path, {{"x", at::ones({3})}});
  write_safetensors(path, {{"y", at::zeros({5})}});
  SafetensorsFile file(path);
  EXPECT_FALSE(file.contains("x"));
  EXPECT_EQ(file.read("y").numel(), 5);
}

// read() copies through the mapping chunk by chunk and drops the mapped pages behind it: holding the
// result costs one copy of the tensor, not two (the file pages would otherwise stay resident).
TEST(Safetensors, ReadDoesNotKeepMappedPagesResident) {
  const std::string dir = test::scratch_dir("st_rss");
  const std::string path = dir + "/big.safetensors";
  const int64_t elements = 48 << 20;  // 96 MB of BF16
  const double tensor_bytes = 2.0 * elements;
  write_safetensors(path, {{"big", at::ones({elements}, at::kBFloat16)}});
  SafetensorsFile file(path);
  const std::int64_t before = test::rss_bytes();
  at::Tensor t = file.read("big");
  const double grown = static_cast<double>(test::rss_bytes() - before);
  std::printf("[rss] reading a %.0f MB tensor grew RSS by %.0f MB\n", tensor_bytes / 1e6, grown / 1e6);
  EXPECT_LT(grown, 1.4 * tensor_bytes) << "the file's pages stayed mapped and resident";
  EXPECT_EQ(t[elements - 1].item<float>(), 1.0f);
}

// Corruption cases: every one must be refused with a message naming the file and, where there is one,
// the tensor.
class SafetensorsCorrupt : public ::testing::Test {
 protected:
  void SetUp() override { dir_ = test::scratch_dir("st_corrupt"); }
  std::string dir_;
};

TEST_F(SafetensorsCorrupt, TruncatedData) {
  const std::string path = dir_ + "/t.safetensors";
  write_safetensors(path, {{"w", at::ones({4, 4})}, {"last", at::ones({8})}});
  std::filesystem::resize_file(path, std::filesystem::file_size(path) - 5);
  test::expect_error([&] { SafetensorsFile f(path); }, {path, "truncated", "'last'"});
}

TEST_F(SafetensorsCorrupt, TruncatedHeader) {
  const std::string path = write_raw(dir_, R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})", 0, 5000);
  test::expect_error([&] { SafetensorsFile f(path); }, {path, "truncated", "5000"});
  const std::string tiny = dir_ + "/tiny.safetensors";
  { std::ofstream(tiny) << "abc"; }
  test::expect_error([&] { SafetensorsFile f(tiny); }, {tiny, "truncated"});
  const std::string empty = dir_ + "/empty.safetensors";
  { std::ofstream(empty) << ""; }
  test::expect_error([&] { SafetensorsFile f(empty); }, {empty, "truncated"});
}

TEST_F(SafetensorsCorrupt, HeaderLyingAboutTensorSize) {
  const std::string path = write_raw(dir_, R"({"w":{"dtype":"BF16","shape":[2,3],"data_offsets":[0,16]}})", 16);
  test::expect_error([&] { SafetensorsFile f(path); }, {path, "'w'", "16 bytes", "needs 12"});
}

TEST_F(SafetensorsCorrupt, OverlappingOffsets) {
  const std::string path = write_raw(
      dir_,
      R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})",
      12);
  test::expect_error([&] { SafetensorsFile f(path); }, {path, "'b'", "overlaps", "'a'"});
}

TEST_F(SafetensorsCorrupt, GapBetweenTensors) {
  const std::string path = write_raw(
      dir_,
      R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[12,20]}})",
      20);
  test::expect_error([&] { SafetensorsFile f(path); }, {path, "gap", "'b'"});
}

TEST_F(SafetensorsCorrupt, TrailingBytesAfterTheLastTensor) {
  const std::string path = write_raw(dir_, R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", 12);
  test::expect_error([&] { SafetensorsFile f(path); }, {path, "trailing", "'a'"});
}

TEST_F(SafetensorsCorrupt, EndBeforeBegin) {
  const std::string path = write_raw(dir_, R"({"a":{"dtype":"F32","shape":[0],"data_offsets":[8,0]}})", 8);
  test::expect_error([&] { SafetensorsFile f(path); }, {path, "'a'", "ending before"});
}

TEST_F(SafetensorsCorrupt, BadJson) {
  const std::string path = write_raw(dir_, R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]})", 8);
  test::expect_error([&] { SafetensorsFile f(path); }, {path, "not valid JSON"});
  const std::string not_object = write_raw(dir_, "[1, 2]", 0);
  test::expect_error([&] { SafetensorsFile f(not_object); }, {not_object, "'{'"});
}

TEST_F(SafetensorsCorrupt, HeaderTooLarge) {
  const std::string path = write_raw(dir_, "{}", 0, 200'000'000);
  test::expect_error([&] { SafetensorsFile f(path); }, {path, "200000000", "limit"});
}

TEST_F(SafetensorsCorrupt, DuplicateTensorName) {
  const std::string path = write_raw(
      dir_,
      R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})",
      8);
  test::expect_error([&] { SafetensorsFile f(path); }, {path, "'a'", "twice"});
}

TEST_F(SafetensorsCorrupt, UnknownDtypeAndBadFields) {
  const std::string path = write_raw(dir_, R"({"w":{"dtype":"F7","shape":[1],"data_offsets":[0,1]}})", 1);
  test::expect_error([&] { SafetensorsFile f(path); }, {path, "'w'", "F7"});
  const std::string neg = write_raw(dir_, R"({"w":{"dtype":"U8","shape":[-1],"data_offsets":[0,1]}})", 1);
  test::expect_error([&] { SafetensorsFile f(neg); }, {neg, "'w'", "shape"});
  const std::string no_offsets = write_raw(dir_, R"({"w":{"dtype":"U8","shape":[1]}})", 1);
  test::expect_error([&] { SafetensorsFile f(no_offsets); }, {no_offsets, "'w'", "data_offsets"});
  const std::string bad_meta = write_raw(dir_, R"({"__metadata__":{"n":1}})", 0);
  test::expect_error([&] { SafetensorsFile f(bad_meta); }, {bad_meta, "__metadata__", "'n'"});
}

TEST_F(SafetensorsCorrupt, MissingFileAndMissingTensor) {
  test::expect_error([&] { SafetensorsFile f(dir_ + "/nope.safetensors"); }, {dir_ + "/nope.safetensors"});
  const std::string path = dir_ + "/ok.safetensors";
  write_safetensors(path, {{"present", at::ones({2})}});
  SafetensorsFile file(path);
  test::expect_error([&] { file.read("absent"); }, {path, "'absent'"});
  test::expect_error([&] { file.info("absent"); }, {path, "'absent'"});
}

}  // namespace
}  // namespace fq::io
