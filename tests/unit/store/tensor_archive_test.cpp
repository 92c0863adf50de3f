// TensorArchiveWriter / TensorArchiveReader: round trips of every stored dtype, the group hierarchy,
// attributes, gathering archives with copy_from, and errors that name the file and the object.
#include <filesystem>

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "lib/core/error.h"
#include "lib/core/json.h"
#include "lib/store/hdf5_verify.h"
#include "lib/store/tensor_archive_reader.h"
#include "lib/store/tensor_archive_writer.h"
#include "tests/support/shared_dir.h"
#include "tests/unit/store/store_test_data.h"

namespace fq::store {
namespace {

using test::bitwise_equal;
using test::contains;
using test::error_of;

// One tensor of each stored dtype, none all-zero.
std::map<std::string, at::Tensor> sample_tensors() {
  at::Generator generator = at::detail::createCPUGenerator(21);
  const at::Tensor normal = at::randn({3, 5}, generator, at::TensorOptions().dtype(at::kDouble));
  return {
      {"f32", normal.to(at::kFloat)},
      {"f64", normal},
      {"bf16", test::activations_with_special_values(at::kBFloat16, 1, 3, 8, 22)[0]},
      {"f16", test::activations_with_special_values(at::kHalf, 1, 3, 8, 23)[0]},
      {"i64", at::randint(-(int64_t{1} << 40), int64_t{1} << 40, {7}, generator, at::TensorOptions().dtype(at::kLong))},
      {"i32", at::randint(-100000, 100000, {2, 2, 2}, generator, at::TensorOptions().dtype(at::kInt))},
      {"u8", at::randint(0, 256, {9}, generator, at::TensorOptions().dtype(at::kByte))},
      {"bool", at::randn({4, 3}, generator) > 0},
  };
}

TEST(TensorArchive, RoundTripOfEveryDtypeIsBitExact) {
  const std::string path = fq::test::scratch_dir("archive_round_trip") + "/layer_003.h5";
  const auto tensors = sample_tensors();
  {
    TensorArchiveWriter writer(path);
    for (const auto& [name, tensor] : tensors) writer.put("layer_003/params/" + name, tensor);
    writer.put("layer_003/scalar", at::scalar_tensor(2.5, at::kFloat));
    writer.put("layer_003/empty", at::empty({0, 4}, at::kFloat));
    writer.put("layer_003/strided", tensors.at("f32").t());  // non-contiguous input
    writer.commit();
  }
  TensorArchiveReader reader(path);
  for (const auto& [name, tensor] : tensors) {
    EXPECT_TRUE(bitwise_equal(reader.read("layer_003/params/" + name), tensor)) << name;
  }
  const at::Tensor scalar = reader.read("/layer_003/scalar");
  EXPECT_EQ(scalar.dim(), 0);
  EXPECT_EQ(scalar.item<float>(), 2.5f);
  EXPECT_EQ(reader.read("layer_003/empty").sizes(), at::IntArrayRef({0, 4}));
  EXPECT_TRUE(bitwise_equal(reader.read("layer_003/strided"), tensors.at("f32").t().contiguous()));
  EXPECT_EQ(reader.string_attribute("layer_003/params/bf16", "dtype"), "bfloat16");
  EXPECT_EQ(reader.string_attribute("layer_003/params/bool", "dtype"), "bool");
}

TEST(TensorArchive, ListsGroupsAndDatasets) {
  const std::string path = fq::test::scratch_dir("archive_listing") + "/t.h5";
  {
    TensorArchiveWriter writer(path);
    writer.put("layer_001/attn_in/left", at::ones({2, 2}));
    writer.put("layer_001/attn_in/right", at::ones({3, 3}));
    writer.put("layer_000/mlp_down/left", at::ones({2, 2}));
    writer.put("layer_000/clip", at::ones({4}));
    writer.put("top", at::ones({1}));
    writer.commit();
  }
  TensorArchiveReader reader(path);
  EXPECT_EQ(reader.groups(), (std::vector<std::string>{"layer_000", "layer_001"}));
  EXPECT_EQ(reader.datasets(), (std::vector<std::string>{"top"}));
  EXPECT_EQ(reader.groups("layer_000"), (std::vector<std::string>{"mlp_down"}));
  EXPECT_EQ(reader.datasets("/layer_000"), (std::vector<std::string>{"clip"}));
  EXPECT_EQ(reader.datasets("layer_001/attn_in"), (std::vector<std::string>{"left", "right"}));
  EXPECT_EQ(reader.all_datasets(),
            (std::vector<std::string>{"layer_000/clip", "layer_000/mlp_down/left", "layer_001/attn_in/left",
                                      "layer_001/attn_in/right", "top"}));
  EXPECT_TRUE(reader.has_dataset("layer_001/attn_in/left"));
  EXPECT_FALSE(reader.has_dataset("layer_001/attn_in"));
  EXPECT_TRUE(reader.has_group("layer_001/attn_in"));
  EXPECT_FALSE(reader.has_group("layer_009/attn_in"));
}

TEST(TensorArchive, AttributesOnFileGroupsAndDatasets) {
  const std::string path = fq::test::scratch_dir("archive_attributes") + "/t.h5";
  const Json config = {{"wbits", 4}, {"abits", 4}, {"lwc", true}, {"layers", {0, 1, 2}}};
  {
    TensorArchiveWriter writer(path);
    writer.put("layer_000/attn_in/left", at::ones({2, 2}));
    writer.set_attribute("/", "format_version", 1);
    writer.set_attribute("", "model", "tiny-llama");
    writer.set_json_attribute("/", "config", config);
    writer.set_attribute("layer_000", "loss", 0.03125);
    writer.set_attribute("layer_000", "loss", 0.015625);  // replaced
    writer.set_attribute("layer_000/attn_in/left", "rank", int64_t{1} << 40);
    writer.set_attribute("layer_005/notes", "status", "skipped");  // creates the group
    writer.commit();
  }
  TensorArchiveReader reader(path);
  EXPECT_EQ(reader.int_attribute("/", "format_version"), 1);
  EXPECT_EQ(reader.string_attribute("/", "model"), "tiny-llama");
  EXPECT_EQ(reader.json_attribute("/", "config"), config);
  EXPECT_EQ(reader.double_attribute("layer_000", "loss"), 0.015625);
  EXPECT_EQ(reader.int_attribute("layer_000/attn_in/left", "rank"), int64_t{1} << 40);
  EXPECT_EQ(reader.string_attribute("layer_005/notes", "status"), "skipped");
  EXPECT_EQ(reader.attributes("/").size(), 3u);
  EXPECT_EQ(reader.attributes("layer_000/attn_in/left").size(), 2u);  // rank and dtype
}

TEST(TensorArchive, GathersPerLayerArchivesWithCopyFrom) {
  const std::string dir = fq::test::scratch_dir("archive_gather");
  const auto tensors = sample_tensors();
  for (int layer = 0; layer < 2; ++layer) {
    TensorArchiveWriter writer(str(dir, "/layer_", layer, ".h5"));
    writer.put("attn_in/left", tensors.at("f32") + layer);
    writer.put("attn_in/clip", tensors.at("bf16"));
    writer.set_attribute("/", "layer", layer);
    writer.set_attribute("attn_in", "kind", "kronecker");
    writer.commit();
  }
  {
    TensorArchiveWriter gathered(dir + "/transforms.h5");
    gathered.set_attribute("/", "num_layers", 2);
    for (int layer = 0; layer < 2; ++layer) {
      gathered.copy_from(str(dir, "/layer_", layer, ".h5"), "/", str("layer_00", layer));
    }
    gathered.copy_from(dir + "/layer_1.h5", "attn_in/left", "extra/left_copy");
    gathered.commit();
  }
  TensorArchiveReader reader(dir + "/transforms.h5");
  EXPECT_EQ(reader.groups(), (std::vector<std::string>{"extra", "layer_000", "layer_001"}));
  for (int layer = 0; layer < 2; ++layer) {
    const std::string group = str("layer_00", layer);
    EXPECT_TRUE(bitwise_equal(reader.read(group + "/attn_in/left"), tensors.at("f32") + layer));
    EXPECT_TRUE(bitwise_equal(reader.read(group + "/attn_in/clip"), tensors.at("bf16")));
    EXPECT_EQ(reader.int_attribute(group, "layer"), layer);
    EXPECT_EQ(reader.string_attribute(group + "/attn_in", "kind"), "kronecker");
  }
  EXPECT_TRUE(bitwise_equal(reader.read("extra/left_copy"), tensors.at("f32") + 1));
  EXPECT_EQ(reader.int_attribute("/", "num_layers"), 2);

  const Hdf5FileSummary summary = verify_hdf5_file(dir + "/transforms.h5");
  EXPECT_EQ(summary.datasets, 5);
  EXPECT_EQ(summary.groups, 5);                  // extra, layer_000, layer_000/attn_in, layer_001, layer_001/attn_in
  EXPECT_EQ(summary.attributes, 1 + 2 + 2 + 5);  // root; 2 layer groups; 2 attn_in groups; a dtype per dataset

  TensorArchiveWriter again(dir + "/again.h5");
  EXPECT_TRUE(contains(error_of([&] { again.copy_from(dir + "/layer_0.h5", "nope", "x"); }), "no object 'nope'"));
  again.put("x", at::ones({1}));
  EXPECT_TRUE(
      contains(error_of([&] { again.copy_from(dir + "/layer_0.h5", "/", "x"); }), "'x': the name is already taken"));
}

TEST(TensorArchive, ErrorsNameTheFileAndTheObject) {
  const std::string dir = fq::test::scratch_dir("archive_errors");
  const std::string path = dir + "/t.h5";
  {
    TensorArchiveWriter writer(path);
    writer.put("a/b", at::ones({2}));
    EXPECT_TRUE(contains(error_of([&] { writer.put("a/b", at::ones({2})); }), "'a/b': the name is already taken"));
    EXPECT_TRUE(contains(error_of([&] { writer.put("a//c", at::ones({2})); }), "bad object name 'a//c'"));
    EXPECT_TRUE(contains(error_of([&] { writer.put("../c", at::ones({2})); }), "bad object name"));
    EXPECT_TRUE(contains(error_of([&] { writer.put("/", at::ones({2})); }), "a tensor needs a name"));
    const std::string message = error_of([&] { writer.put("s", at::ones({2}, at::kShort)); });
    EXPECT_TRUE(contains(message, path) && contains(message, "dataset 's'") && contains(message, "Short")) << message;
    writer.set_attribute("a", "note", "not json {");
    writer.commit();
    EXPECT_TRUE(contains(error_of([&] { writer.put("z", at::ones({1})); }), "after commit"));
  }
  TensorArchiveReader reader(path);
  std::string message = error_of([&] { reader.read("a/missing"); });
  EXPECT_TRUE(contains(message, path) && contains(message, "no dataset 'a/missing'")) << message;
  EXPECT_TRUE(contains(error_of([&] { reader.read("a"); }), "no dataset 'a'"));
  EXPECT_TRUE(contains(error_of([&] { reader.read("a/b/c"); }), "no dataset 'a/b/c'"));  // below a dataset
  message = error_of([&] { reader.int_attribute("a", "note"); });
  EXPECT_TRUE(contains(message, path) &&
              contains(message, "object 'a' attribute 'note': expected a value of type int64, found 'not json {'"))
      << message;
  EXPECT_TRUE(contains(error_of([&] { reader.string_attribute("a", "absent"); }), "attribute 'absent': missing"));
  EXPECT_TRUE(contains(error_of([&] { reader.json_attribute("a", "note"); }), "attribute 'note': not valid JSON"));
  EXPECT_TRUE(contains(error_of([&] { reader.attributes("nowhere"); }), "no object 'nowhere'"));
  EXPECT_TRUE(contains(error_of([&] { reader.groups("a/b"); }), "no group 'a/b'"));
  EXPECT_TRUE(contains(error_of([&] { TensorArchiveReader(dir + "/absent.h5"); }), dir + "/absent.h5"));
}

TEST(TensorArchive, AbandonedWriterLeavesNothing) {
  const std::string dir = fq::test::scratch_dir("archive_abandoned");
  {
    TensorArchiveWriter writer(dir + "/t.h5");
    writer.put("x", at::ones({3}));
  }
  EXPECT_TRUE(std::filesystem::is_empty(dir));
}

}  // namespace
}  // namespace fq::store
