#include "lib/store/activation_writer.h"

#include <algorithm>

#include <ATen/ATen.h>

#include "lib/core/log.h"
#include "lib/store/dtype_attribute.h"
#include "lib/store/h5_attributes.h"
#include "lib/store/h5_types.h"
#include "lib/store/sample_selection.h"

namespace fq::store {
namespace {

// HDF5 limits a chunk to 4 GiB.
constexpr std::int64_t kMaxChunkBytes = (std::int64_t{1} << 32) - 1;

void check_writer_arguments(const std::string& path, std::int64_t layer, const ActivationShape& shape,
                            c10::ScalarType dtype, const ActivationWriterOptions& options) {
  FQ_CHECK(shape.nsamples > 0 && shape.seqlen > 0 && shape.hidden > 0, "'", path,
           "': activation shape must be positive, got ", shape.to_string());
  FQ_CHECK(is_activation_dtype(dtype), "'", path, "': activations are stored as bfloat16, float16 or float32, not ",
           c10::toString(dtype));
  const std::int64_t chunk_bytes = shape.seqlen * shape.hidden * static_cast<std::int64_t>(c10::elementSize(dtype));
  FQ_CHECK(chunk_bytes <= kMaxChunkBytes, "'", path, "': one sample (", shape.seqlen, " x ", shape.hidden, ") is ",
           chunk_bytes, " bytes, over HDF5's 4 GiB chunk limit");
  FQ_CHECK(options.deflate_level >= 0 && options.deflate_level <= 9, "'", path, "': deflate level must be 0-9, got ",
           options.deflate_level);
  for (const auto& [key, value] : options.attributes) {
    FQ_CHECK(key != kLayerAttribute && key != kDtypeAttribute, "'", path, "': attribute '", key,
             "' is reserved for the writer");
  }
  FQ_CHECK(layer >= 0, "'", path, "': layer index must be >= 0, got ", layer);
}

}  // namespace

ActivationWriter::ActivationWriter(std::string path, std::int64_t layer, ActivationShape shape, c10::ScalarType dtype,
                                   ActivationWriterOptions options)
    : shape_(shape),
      dtype_(dtype),
      file_((check_writer_arguments(path, layer, shape, dtype, options), std::move(path))),
      stored_type_(h5_type_for(dtype, "'" + file_.path() + "'")),
      written_(static_cast<size_t>(shape.nsamples), false) {
  const std::string where = str("'", file_.path(), "' dataset '", kActivationDataset, "'");
  const hsize_t dims[3] = {static_cast<hsize_t>(shape.nsamples), static_cast<hsize_t>(shape.seqlen),
                           static_cast<hsize_t>(shape.hidden)};
  const hsize_t chunk[3] = {1, dims[1], dims[2]};
  H5Dataspace space(H5_CHECK(H5Screate_simple(3, dims, nullptr), where, ": cannot create the dataspace"));
  H5PropList dcpl(H5_CHECK(H5Pcreate(H5P_DATASET_CREATE), where, ": cannot create properties"));
  H5_CHECK(H5Pset_chunk(dcpl.get(), 3, chunk), where, ": cannot set per-sample chunks");
  if (options.deflate_level > 0) {
    H5_CHECK(H5Pset_shuffle(dcpl.get()), where, ": cannot enable the shuffle filter");
    H5_CHECK(H5Pset_deflate(dcpl.get(), static_cast<unsigned>(options.deflate_level)), where,
             ": cannot enable deflate (HDF5 built without zlib?)");
  }
  dataset_ = H5Dataset(H5_CHECK(
      H5Dcreate2(file_.id(), kActivationDataset, stored_type_.get(), space.get(), H5P_DEFAULT, dcpl.get(), H5P_DEFAULT),
      where, ": cannot create"));
  write_attribute(dataset_.get(), kLayerAttribute, layer, where);
  write_dtype_attribute(dataset_.get(), dtype, where);
  for (const auto& [key, value] : options.attributes) write_attribute(dataset_.get(), key, value, where);
}

ActivationWriter::~ActivationWriter() {
  if (dataset_.valid()) {
    log::warn("store", "activation file abandoned before commit; removing its temporary file",
              {{"path", file_.path()}, {"samples_written", samples_written_}});
  }
  dataset_.reset();
}

void ActivationWriter::write(std::int64_t sample_begin, const at::Tensor& x) {
  const std::string& path = file_.path();
  FQ_CHECK(dataset_.valid(), "'", path, "': write after commit");
  FQ_CHECK(x.defined() && x.dim() == 3 && x.size(1) == shape_.seqlen && x.size(2) == shape_.hidden, "'", path,
           "': activations must be [n, ", shape_.seqlen, ", ", shape_.hidden, "], got ",
           x.defined() ? fq::str(x.sizes()) : "an undefined tensor");
  FQ_CHECK(at::isFloatingType(x.scalar_type()), "'", path, "': activations must be floating point, got ",
           c10::toString(x.scalar_type()));
  const std::int64_t count = x.size(0);
  SampleSelection selection = select_samples(dataset_.get(), path, shape_, sample_begin, count);
  // Convert on the tensor's own device (a GPU does it faster, and moves half the bytes for fp32 -> bf16).
  const at::Tensor host = x.to(dtype_).to(at::kCPU).contiguous();
  H5_CHECK(H5Dwrite(dataset_.get(), stored_type_.get(), selection.memory.get(), selection.file.get(), H5P_DEFAULT,
                    host.data_ptr()),
           selection.where, ": write failed");
  for (std::int64_t i = sample_begin; i < sample_begin + count; ++i) {
    if (!written_[static_cast<size_t>(i)]) {
      written_[static_cast<size_t>(i)] = true;
      ++samples_written_;
    }
  }
}

void ActivationWriter::commit() {
  const std::string& path = file_.path();
  FQ_CHECK(dataset_.valid(), "'", path, "': already committed");
  const auto missing = std::find(written_.begin(), written_.end(), false);
  FQ_CHECK(missing == written_.end(), "'", path, "': cannot commit, only ", samples_written_, " of ", shape_.nsamples,
           " samples were written (first missing: sample ", missing - written_.begin(), ")");
  H5_CHECK(dataset_.close(), "'", path, "' dataset '", kActivationDataset, "': closing failed");
  file_.commit();
}

}  // namespace fq::store
