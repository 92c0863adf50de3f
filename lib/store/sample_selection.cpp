#include "lib/store/sample_selection.h"

namespace fq::store {

SampleSelection select_samples(hid_t dataset, const std::string& path, const ActivationShape& shape,
                               std::int64_t sample_begin, std::int64_t count) {
  FQ_CHECK(count > 0 && sample_begin >= 0 && sample_begin + count <= shape.nsamples, "'", path, "': samples [",
           sample_begin, ", ", sample_begin + count, ") are outside [0, ", shape.nsamples, ")");
  SampleSelection selection;
  selection.where =
      str("'", path, "' dataset '", kActivationDataset, "' samples [", sample_begin, ", ", sample_begin + count, ")");
  const hsize_t start[3] = {static_cast<hsize_t>(sample_begin), 0, 0};
  const hsize_t dims[3] = {static_cast<hsize_t>(count), static_cast<hsize_t>(shape.seqlen),
                           static_cast<hsize_t>(shape.hidden)};
  selection.memory = H5Dataspace(
      H5_CHECK(H5Screate_simple(3, dims, nullptr), selection.where, ": cannot create the memory dataspace"));
  selection.file = H5Dataspace(H5_CHECK(H5Dget_space(dataset), selection.where, ": cannot get the dataspace"));
  H5_CHECK(H5Sselect_hyperslab(selection.file.get(), H5S_SELECT_SET, start, nullptr, dims, nullptr), selection.where,
           ": cannot select the samples");
  return selection;
}

}  // namespace fq::store
