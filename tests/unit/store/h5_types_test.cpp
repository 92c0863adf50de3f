// The HDF5 layer under lib/store: 16-bit float types, the type table, H5_CHECK and the RAII handles.
#include "lib/store/h5_types.h"

#include <gtest/gtest.h>

#include "lib/core/error.h"
#include "lib/store/h5_check.h"
#include "lib/store/h5_handle.h"
#include "lib/tensor/dtype.h"
#include "tests/unit/store/store_test_data.h"

namespace fq::store {
namespace {

struct FloatLayout {
  size_t sign, exponent_pos, exponent_bits, mantissa_pos, mantissa_bits, bias;
};

FloatLayout layout_of(hid_t type) {
  FloatLayout layout{};
  EXPECT_GE(H5Tget_fields(type, &layout.sign, &layout.exponent_pos, &layout.exponent_bits, &layout.mantissa_pos,
                          &layout.mantissa_bits),
            0);
  layout.bias = H5Tget_ebias(type);
  return layout;
}

TEST(H5Types, Bfloat16IsA16BitFloatWithFloat32Exponent) {
  H5Datatype type = h5_type_for(c10::kBFloat16, "test");
  EXPECT_EQ(H5Tget_class(type.get()), H5T_FLOAT);
  EXPECT_EQ(H5Tget_size(type.get()), 2u);
  EXPECT_EQ(H5Tget_precision(type.get()), 16u);
  EXPECT_EQ(H5Tget_order(type.get()), H5T_ORDER_LE);
  EXPECT_EQ(H5Tget_norm(type.get()), H5T_NORM_IMPLIED);
  const FloatLayout layout = layout_of(type.get());
  EXPECT_EQ(layout.sign, 15u);
  EXPECT_EQ(layout.exponent_pos, 7u);
  EXPECT_EQ(layout.exponent_bits, 8u);
  EXPECT_EQ(layout.mantissa_pos, 0u);
  EXPECT_EQ(layout.mantissa_bits, 7u);
  EXPECT_EQ(layout.bias, 127u);
}

TEST(H5Types, Float16IsIeeeHalf) {
  H5Datatype type = h5_type_for(c10::kHalf, "test");
  EXPECT_EQ(H5Tget_size(type.get()), 2u);
  const FloatLayout layout = layout_of(type.get());
  EXPECT_EQ(layout.exponent_pos, 10u);
  EXPECT_EQ(layout.exponent_bits, 5u);
  EXPECT_EQ(layout.mantissa_bits, 10u);
  EXPECT_EQ(layout.bias, 15u);
}

TEST(H5Types, EveryStoredTypeMapsBackToItself) {
  for (c10::ScalarType type :
       {c10::kFloat, c10::kDouble, c10::kBFloat16, c10::kHalf, c10::kLong, c10::kInt, c10::kByte, c10::kBool}) {
    H5Datatype h5 = h5_type_for(type, "test");
    EXPECT_EQ(scalar_type_of(h5.get(), "test"), type) << c10::toString(type);
  }
  EXPECT_EQ(scalar_type_of(H5T_NATIVE_FLOAT, "test"), c10::kFloat);  // h5py's float32 on a little-endian host
}

TEST(H5Types, FloatNamesAgreeWithTheProjectNames) {
  for (c10::ScalarType type : {c10::kFloat, c10::kDouble, c10::kBFloat16, c10::kHalf}) {
    EXPECT_EQ(stored_dtype_name(type), dtype_name(type));
  }
  EXPECT_EQ(stored_dtype_name(c10::kBool), "bool");
  EXPECT_EQ(stored_dtype_name(c10::kLong), "int64");
}

TEST(H5Types, UnsupportedTypesAreErrorsNamingTheContext) {
  try {
    h5_type_for(c10::kShort, "archive 'x.h5' dataset 'w'");
    FAIL() << "int16 accepted";
  } catch (const Error& e) {
    EXPECT_TRUE(test::contains(e.what(), "archive 'x.h5' dataset 'w'")) << e.what();
  }
  for (hid_t foreign : {H5T_IEEE_F32BE, H5T_STD_I16LE, H5T_STD_U64LE}) {
    try {
      scalar_type_of(foreign, "file 'y.h5' dataset 'd'");
      FAIL() << "foreign type accepted";
    } catch (const Error& e) {
      EXPECT_TRUE(test::contains(e.what(), "file 'y.h5' dataset 'd'")) << e.what();
      EXPECT_TRUE(test::contains(e.what(), "unsupported HDF5 element type")) << e.what();
    }
  }
}

TEST(H5Check, FailureCarriesContextAndHdf5MessageAndPrintsNothing) {
  testing::internal::CaptureStderr();
  std::string message;
  try {
    H5_CHECK(H5Fopen("/nonexistent/dir/a.h5", H5F_ACC_RDONLY, H5P_DEFAULT), "'/nonexistent/dir/a.h5': cannot open");
  } catch (const Error& e) {
    message = e.what();
  }
  const std::string printed = testing::internal::GetCapturedStderr();
  EXPECT_TRUE(test::contains(message, "'/nonexistent/dir/a.h5': cannot open")) << message;
  EXPECT_TRUE(test::contains(message, "[HDF5: ")) << message;
  EXPECT_TRUE(test::contains(message, "unable to open file")) << message;
  EXPECT_TRUE(test::contains(message, "h5_types_test.cpp:")) << message;
  EXPECT_EQ(printed, "") << "HDF5 printed its error stack";
}

TEST(H5Check, SuccessReturnsTheResult) {
  const hid_t copy = H5_CHECK(H5Tcopy(H5T_NATIVE_INT), "copy");
  EXPECT_GE(copy, 0);
  H5Tclose(copy);
}

TEST(H5Handle, MoveTransfersOwnershipAndCloseHappensOnce) {
  H5Datatype a(H5Tcopy(H5T_NATIVE_INT));
  const hid_t id = a.get();
  ASSERT_GT(H5Iis_valid(id), 0);
  H5Datatype b(std::move(a));
  EXPECT_FALSE(a.valid());  // NOLINT(bugprone-use-after-move): checking the moved-from state
  EXPECT_EQ(b.get(), id);
  H5Datatype c;
  c = std::move(b);
  EXPECT_EQ(c.get(), id);
  EXPECT_GT(H5Iis_valid(id), 0);
  EXPECT_GE(c.close(), 0);
  EXPECT_FALSE(c.valid());
  EXPECT_LE(H5Iis_valid(id), 0);
  {
    H5Datatype scoped(H5Tcopy(H5T_NATIVE_INT));
    const hid_t scoped_id = scoped.get();
    scoped = H5Datatype(H5Tcopy(H5T_NATIVE_DOUBLE));  // the first id is closed by the assignment
    EXPECT_LE(H5Iis_valid(scoped_id), 0);
  }
}

}  // namespace
}  // namespace fq::store
