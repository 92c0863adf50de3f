#include "lib/store/activation_reader.h"

#include <ATen/ATen.h>

#include "lib/store/dtype_attribute.h"
#include "lib/store/h5_attributes.h"
#include "lib/store/h5_file.h"
#include "lib/store/h5_objects.h"
#include "lib/store/h5_types.h"
#include "lib/store/sample_selection.h"
#include "lib/tensor/dtype.h"

namespace fq::store {
namespace {

// HDF5 hashes chunks into `nslots` slots; its guide asks for a prime about 100x the chunks that fit.
size_t next_prime(size_t n) {
  auto is_prime = [](size_t k) {
    if (k < 2) return false;
    for (size_t d = 2; d * d <= k; ++d) {
      if (k % d == 0) return false;
    }
    return true;
  };
  while (!is_prime(n)) ++n;
  return n;
}

template <typename T>
void check_expected(const std::string& path, const char* field, const std::optional<T>& expected, const T& actual,
                    const std::string& expected_text, const std::string& actual_text) {
  FQ_CHECK(!expected || *expected == actual, "'", path, "': ", field, " mismatch: expected ", expected_text,
           ", the file has ", actual_text);
}

}  // namespace

ActivationReader::ActivationReader(std::string path, const ActivationReaderOptions& options)
    : path_(std::move(path)), pin_memory_(options.pin_memory), file_(open_h5_file_for_reading(path_)) {
  const std::string where = str("'", path_, "' dataset '", kActivationDataset, "'");
  FQ_CHECK(H5_CHECK(H5Lexists(file_.get(), kActivationDataset, H5P_DEFAULT), where, ": cannot look up") > 0, "'", path_,
           "': no dataset '", kActivationDataset, "' (not an activation file)");
  FQ_CHECK(options.chunk_cache_chunks >= 0, where, ": chunk_cache_chunks must be >= 0");
  FQ_CHECK(!pin_memory_ || at::hasCUDA(), where, ": pinned memory needs CUDA, which this build or machine lacks");

  // The chunk cache is a dataset access property: open once to learn the chunk size, then reopen with it.
  {
    H5Dataset probe(H5_CHECK(H5Dopen2(file_.get(), kActivationDataset, H5P_DEFAULT), where, ": cannot open"));
    dtype_ = dataset_scalar_type(probe.get(), /*dtype_attribute_required=*/true, where);
    stored_type_ = h5_type_for(dtype_, where);
    H5Dataspace space(H5_CHECK(H5Dget_space(probe.get()), where, ": cannot read the dataspace"));
    const int rank = H5_CHECK(H5Sget_simple_extent_ndims(space.get()), where, ": cannot read the rank");
    FQ_CHECK(rank == 3, where, ": expected rank 3 [nsamples, seqlen, hidden], the file has rank ", rank);
    hsize_t dims[3] = {0, 0, 0};
    H5_CHECK(H5Sget_simple_extent_dims(space.get(), dims, nullptr), where, ": cannot read the shape");
    shape_ = {static_cast<std::int64_t>(dims[0]), static_cast<std::int64_t>(dims[1]),
              static_cast<std::int64_t>(dims[2])};
  }
  FQ_CHECK(is_activation_dtype(dtype_), where, ": activations must be bfloat16, float16 or float32, the file has ",
           stored_dtype_name(dtype_));
  const size_t chunk_bytes = static_cast<size_t>(shape_.seqlen * shape_.hidden) * c10::elementSize(dtype_);
  const size_t cache_chunks = static_cast<size_t>(options.chunk_cache_chunks);
  H5PropList dapl(H5_CHECK(H5Pcreate(H5P_DATASET_ACCESS), where, ": cannot create access properties"));
  // w0 = 1: evict chunks that were read whole first (batches stream through the file once). A cache of 0
  // bytes makes HDF5 read every chunk directly into the caller's buffer.
  H5_CHECK(H5Pset_chunk_cache(dapl.get(), next_prime(100 * std::max<size_t>(cache_chunks, 1)),
                              cache_chunks * chunk_bytes, 1.0),
           where, ": cannot set the chunk cache");
  dataset_ = H5Dataset(H5_CHECK(H5Dopen2(file_.get(), kActivationDataset, dapl.get()), where, ": cannot open"));

  // A sample that was never written reads as zeros; our writer refuses to commit such a file.
  FQ_CHECK(dataset_fully_written(dataset_.get(), where), where, ": some samples were never written (incomplete file)");

  attributes_ = read_attributes(dataset_.get(), where);
  const auto layer_attribute = attributes_.find(kLayerAttribute);
  FQ_CHECK(layer_attribute != attributes_.end() && layer_attribute->second.kind() == AttributeValue::Kind::kInt, where,
           ": missing the int64 attribute '", kLayerAttribute, "'");
  layer_ = layer_attribute->second.integer();

  const ActivationExpectations& expect = options.expect;
  check_expected(path_, "layer", expect.layer, layer_, expect.layer ? std::to_string(*expect.layer) : "",
                 std::to_string(layer_));
  check_expected(path_, "shape", expect.shape, shape_, expect.shape ? expect.shape->to_string() : "",
                 shape_.to_string());
  check_expected(path_, "dtype", expect.dtype, dtype_, expect.dtype ? dtype_name(*expect.dtype) : "",
                 dtype_name(dtype_));
  for (const auto& [key, value] : expect.attributes) {
    const auto found = attributes_.find(key);
    FQ_CHECK(found != attributes_.end(), "'", path_, "': attribute '", key, "' mismatch: expected ", value.to_string(),
             ", the file has none");
    FQ_CHECK(found->second == value, "'", path_, "': attribute '", key, "' mismatch: expected ", value.to_string(),
             ", the file has ", found->second.to_string());
  }
}

at::Tensor ActivationReader::read(std::int64_t sample_begin, std::int64_t count) const {
  FQ_CHECK(count > 0, "'", path_, "': cannot read ", count, " samples");
  at::Tensor out =
      at::empty({count, shape_.seqlen, shape_.hidden}, at::TensorOptions().dtype(dtype_).pinned_memory(pin_memory_));
  read_into(sample_begin, out);
  return out;
}

void ActivationReader::read_into(std::int64_t sample_begin, const at::Tensor& out) const {
  FQ_CHECK(out.defined() && out.device().is_cpu() && out.is_contiguous() && out.scalar_type() == dtype_ &&
               out.dim() == 3 && out.size(1) == shape_.seqlen && out.size(2) == shape_.hidden,
           "'", path_, "': the read buffer must be a contiguous CPU ", stored_dtype_name(dtype_), " tensor [n, ",
           shape_.seqlen, ", ", shape_.hidden, "]");
  SampleSelection selection = select_samples(dataset_.get(), path_, shape_, sample_begin, out.size(0));
  H5_CHECK(H5Dread(dataset_.get(), stored_type_.get(), selection.memory.get(), selection.file.get(), H5P_DEFAULT,
                   out.data_ptr()),
           selection.where, ": read failed");
}

}  // namespace fq::store
