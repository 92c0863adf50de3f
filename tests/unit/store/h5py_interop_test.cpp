// Interoperability with the Python side of the ecosystem: h5py (Debian's python3-h5py under
// /usr/bin/python3) reads our bfloat16 and float16 datasets with exactly the written values and bits, and
// our archives with the expected numpy dtypes; TensorArchiveReader reads what h5py writes; h5dump prints
// the 16-bit type. Skips only when /usr/bin/python3 lacks h5py (or h5dump is not installed).
#include <array>
#include <cstdio>
#include <fstream>

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "lib/core/error.h"
#include "lib/core/json.h"
#include "lib/store/activation_writer.h"
#include "lib/store/tensor_archive_reader.h"
#include "lib/store/tensor_archive_writer.h"
#include "tests/support/shared_dir.h"
#include "tests/unit/store/store_test_data.h"

namespace fq::store {
namespace {

using test::contains;

struct CommandResult {
  int exit_code = -1;
  std::string output;  // stdout and stderr
};

CommandResult run_command(const std::string& command) {
  CommandResult result;
  FILE* pipe = ::popen((command + " 2>&1").c_str(), "r");
  if (!pipe) return result;
  std::array<char, 4096> buffer{};
  size_t n = 0;
  while ((n = std::fread(buffer.data(), 1, buffer.size(), pipe)) > 0) result.output.append(buffer.data(), n);
  const int status = ::pclose(pipe);
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return result;
}

void write_raw(const std::string& path, const at::Tensor& tensor) {
  const at::Tensor contiguous = tensor.contiguous();
  std::ofstream out(path, std::ios::binary);
  out.write(static_cast<const char*>(contiguous.data_ptr()), static_cast<std::streamsize>(contiguous.nbytes()));
  ASSERT_TRUE(out.good()) << path;
}

std::string write_script(const std::string& dir, const std::string& name, const std::string& text) {
  const std::string path = dir + "/" + name;
  std::ofstream(path) << text;
  return path;
}

constexpr const char* kPython = "/usr/bin/python3";

#define REQUIRE_H5PY()                                                                                        \
  do {                                                                                                        \
    if (run_command(std::string(kPython) + " -c 'import h5py'").exit_code != 0)                               \
      GTEST_SKIP() << kPython << " cannot import h5py: install Debian's python3-h5py (scripts/test.sh does)"; \
  } while (0)

// argv: file, dtype name, expected values (float32 for bfloat16, else the stored type), expected raw bits.
constexpr const char* kReadActivations = R"PY(
import sys
import h5py, numpy as np
path, dtype_name, values_path, bits_path = sys.argv[1:5]
value_type = {"bfloat16": np.float32, "float16": np.float16, "float32": np.float32}[dtype_name]
bits_type = {"bfloat16": np.uint16, "float16": np.uint16, "float32": np.uint32}[dtype_name]
with h5py.File(path, "r") as f:
    d = f["activations"]
    assert d.dtype == value_type, f"h5py dtype {d.dtype}, expected {value_type}"
    assert d.attrs["dtype"] == dtype_name.encode(), d.attrs["dtype"]
    assert int(d.attrs["layer"]) == 7
    assert d.chunks == (1,) + d.shape[1:], d.chunks
    got = d[...]
    expected = np.fromfile(values_path, dtype=value_type).reshape(got.shape)
    nan_got, nan_expected = np.isnan(got), np.isnan(expected)
    assert (nan_got == nan_expected).all(), "NaN positions differ"
    unsigned = np.uint32 if value_type == np.float32 else np.uint16
    mismatch = got.view(unsigned)[~nan_got] != expected.view(unsigned)[~nan_expected]
    assert not mismatch.any(), f"{mismatch.sum()} values differ, first {got[~nan_got][mismatch][:4]} vs {expected[~nan_expected][mismatch][:4]}"
    raw = np.empty(d.shape, dtype=bits_type)
    d.id.read(h5py.h5s.ALL, h5py.h5s.ALL, raw, mtype=d.id.get_type())
    assert (raw == np.fromfile(bits_path, dtype=bits_type).reshape(d.shape)).all(), "stored bits differ"
    print("checked", got.size, "values, nan", int(nan_got.sum()), "subnormal", int(((got != 0) & (np.abs(got) < np.finfo(value_type).tiny)).sum()))
)PY";

TEST(H5pyInterop, ReadsBfloat16AndFloat16ActivationsExactly) {
  REQUIRE_H5PY();
  const std::string dir = fq::test::scratch_dir("h5py_activations");
  const std::string script = write_script(dir, "read_activations.py", kReadActivations);
  for (c10::ScalarType dtype : {c10::kBFloat16, c10::kHalf, c10::kFloat}) {
    const std::string name = c10::toString(dtype);
    const at::Tensor x = test::activations_with_special_values(dtype, 3, 8, 32, 41);
    {
      ActivationWriter writer(dir + "/" + name + ".h5", 7, {3, 8, 32}, dtype);
      writer.write(0, x);
      writer.commit();
    }
    // bfloat16 -> float32 is exact, so float32 is what h5py must return.
    write_raw(dir + "/" + name + ".values", dtype == c10::kBFloat16 ? x.to(at::kFloat) : x);
    write_raw(dir + "/" + name + ".bits", x);
    const std::string dtype_name = dtype == c10::kBFloat16 ? "bfloat16" : dtype == c10::kHalf ? "float16" : "float32";
    const CommandResult result = run_command(str(kPython, " ", script, " ", dir, "/", name, ".h5 ", dtype_name, " ",
                                                 dir, "/", name, ".values ", dir, "/", name, ".bits"));
    EXPECT_EQ(result.exit_code, 0) << name << ": " << result.output;
    EXPECT_TRUE(contains(result.output, "subnormal 2")) << name << ": " << result.output;
  }
}

constexpr const char* kReadArchive = R"PY(
import sys, json
import h5py, numpy as np
with h5py.File(sys.argv[1], "r") as f:
    expect = {
        "w/f32": (np.float32, np.arange(12, dtype=np.float32).reshape(3, 4) * 0.5 - 1),
        "w/f64": (np.float64, np.array([np.pi, -np.e])),
        "w/bf16": (np.float32, np.array([1.5, -2.0, 65536.0, -0.0], dtype=np.float32)),
        "w/i64": (np.int64, np.array([-(2**40), 0, 2**40 + 1])),
        "w/i32": (np.int32, np.array([-5, 7])),
        "w/u8": (np.uint8, np.array([0, 127, 255])),
        "w/bool": (np.bool_, np.array([True, False, True])),
    }
    for name, (dtype, values) in expect.items():
        d = f[name]
        assert d.dtype == dtype, f"{name}: {d.dtype} != {dtype}"
        assert np.array_equal(d[...], values), f"{name}: {d[...]} != {values}"
        assert np.signbit(d[...]).tolist() == np.signbit(values).tolist(), name
    assert f.attrs["model"] == b"tiny", f.attrs["model"]
    assert f.attrs["n"] == 3 and f.attrs["lr"] == 0.5
    assert json.loads(f.attrs["config"]) == {"wbits": 4, "sym": True}
    assert f["w"].attrs["note"] == "ünïcödé".encode()
    assert f["w/bf16"].attrs["dtype"] == b"bfloat16"
print("archive ok")
)PY";

TEST(H5pyInterop, ReadsTensorArchivesWithNumpyTypes) {
  REQUIRE_H5PY();
  const std::string dir = fq::test::scratch_dir("h5py_archive");
  const std::string path = dir + "/archive.h5";
  {
    TensorArchiveWriter writer(path);
    writer.put("w/f32", at::arange(12, at::kFloat).reshape({3, 4}) * 0.5 - 1);
    writer.put("w/f64", at::tensor({M_PI, -M_E}, at::kDouble));
    writer.put("w/bf16", at::tensor({1.5f, -2.0f, 65536.0f, -0.0f}).to(at::kBFloat16));
    writer.put("w/i64", at::tensor({-(int64_t{1} << 40), int64_t{0}, (int64_t{1} << 40) + 1}, at::kLong));
    writer.put("w/i32", at::tensor({-5, 7}, at::kInt));
    writer.put("w/u8", at::tensor({0, 127, 255}, at::kInt).to(at::kByte));
    writer.put("w/bool", at::tensor({1, 0, 1}, at::kInt).to(at::kBool));
    writer.set_attribute("/", "model", "tiny");
    writer.set_attribute("/", "n", 3);
    writer.set_attribute("/", "lr", 0.5);
    writer.set_json_attribute("/", "config", Json{{"wbits", 4}, {"sym", true}});
    writer.set_attribute("w", "note", "ünïcödé");
    writer.commit();
  }
  const std::string script = write_script(dir, "read_archive.py", kReadArchive);
  const CommandResult result = run_command(str(kPython, " ", script, " ", path));
  EXPECT_EQ(result.exit_code, 0) << result.output;
  EXPECT_TRUE(contains(result.output, "archive ok")) << result.output;
}

constexpr const char* kWriteArchive = R"PY(
import sys
import h5py, numpy as np
with h5py.File(sys.argv[1], "w") as f:
    f["a/f32"] = np.array([[1.25, -0.0], [np.inf, 3.0e-42]], dtype=np.float32)
    f["a/f16"] = np.array([0.5, -65504.0], dtype=np.float16)
    f["a/i64"] = np.array([2**50, -3])
    f["a/mask"] = np.array([True, False])
    f["scalar"] = np.float64(2.5)
    f.attrs["name"] = "vlen ünicode"
    f.attrs["fixed"] = np.bytes_("fixed bytes")
    f.attrs["count"] = np.int32(42)
    f.attrs["ratio"] = np.float32(0.25)
    f["a"].attrs["big"] = np.uint32(4000000000)
)PY";

TEST(H5pyInterop, ReadsWhatH5pyWrites) {
  REQUIRE_H5PY();
  const std::string dir = fq::test::scratch_dir("h5py_written");
  const std::string path = dir + "/from_h5py.h5";
  const CommandResult result = run_command(str(kPython, " ", write_script(dir, "write.py", kWriteArchive), " ", path));
  ASSERT_EQ(result.exit_code, 0) << result.output;

  TensorArchiveReader reader(path);
  const float f32[] = {1.25f, -0.0f, INFINITY, 3.0e-42f};
  EXPECT_TRUE(test::bitwise_equal(reader.read("a/f32"), at::from_blob(const_cast<float*>(f32), {2, 2}, at::kFloat)));
  EXPECT_TRUE(test::bitwise_equal(reader.read("a/f16"), at::tensor({0.5f, -65504.0f}).to(at::kHalf)));
  EXPECT_TRUE(test::bitwise_equal(reader.read("a/i64"), at::tensor({int64_t{1} << 50, int64_t{-3}}, at::kLong)));
  EXPECT_TRUE(test::bitwise_equal(reader.read("a/mask"), at::tensor({1, 0}, at::kInt).to(at::kBool)));
  const at::Tensor scalar = reader.read("scalar");
  EXPECT_EQ(scalar.dim(), 0);
  EXPECT_EQ(scalar.item<double>(), 2.5);
  EXPECT_EQ(reader.string_attribute("/", "name"), "vlen ünicode");
  EXPECT_EQ(reader.string_attribute("/", "fixed"), "fixed bytes");
  EXPECT_EQ(reader.int_attribute("/", "count"), 42);
  EXPECT_EQ(reader.double_attribute("/", "ratio"), 0.25);
  EXPECT_EQ(reader.int_attribute("a", "big"), 4000000000);
}

TEST(H5dump, PrintsThe16BitTypeTheDtypeAttributeAndPerSampleChunks) {
  if (run_command("h5dump --version").exit_code != 0) GTEST_SKIP() << "h5dump not installed (Debian: hdf5-tools)";
  const std::string path = fq::test::scratch_dir("h5dump") + "/a.h5";
  {
    ActivationWriter writer(path, 2, {1, 2, 4}, at::kBFloat16);
    writer.write(0, at::ones({1, 2, 4}));
    writer.commit();
  }
  const CommandResult result = run_command("h5dump -H -p -A -d /activations " + path);
  ASSERT_EQ(result.exit_code, 0) << result.output;
  EXPECT_TRUE(contains(result.output, "16-bit little-endian floating-point 16-bit precision")) << result.output;
  EXPECT_TRUE(contains(result.output, "\"bfloat16\"")) << result.output;
  EXPECT_TRUE(contains(result.output, "CHUNKED ( 1, 2, 4 )")) << result.output;  // one chunk per sample
}

}  // namespace
}  // namespace fq::store
