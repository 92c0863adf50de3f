#include "lib/store/hdf5_verify.h"

#include "lib/store/dtype_attribute.h"
#include "lib/store/h5_attributes.h"
#include "lib/store/h5_file.h"
#include "lib/store/h5_objects.h"

namespace fq::store {

Hdf5FileSummary verify_hdf5_file(const std::string& path) {
  const std::string where = "'" + path + "'";
  H5File file = open_h5_file_for_reading(path);
  Hdf5FileSummary summary;
  const auto count_attributes = [&](const std::string& name) {
    H5Object object(H5_CHECK(H5Oopen(file.get(), name.c_str(), H5P_DEFAULT), where, ": cannot open '", name, "'"));
    summary.attributes += static_cast<std::int64_t>(read_attributes(object.get(), str(where, " '", name, "'")).size());
  };
  count_attributes("/");
  for (const std::string& group : all_objects(file.get(), H5ObjectKind::kGroup, where)) {
    count_attributes(group);
    ++summary.groups;
  }
  for (const std::string& name : all_objects(file.get(), H5ObjectKind::kDataset, where)) {
    const std::string dataset_where = str(where, " dataset '", name, "'");
    H5Dataset dataset(H5_CHECK(H5Dopen2(file.get(), name.c_str(), H5P_DEFAULT), dataset_where, ": cannot open"));
    dataset_scalar_type(dataset.get(), /*dtype_attribute_required=*/false, dataset_where);
    H5Dataspace space(H5_CHECK(H5Dget_space(dataset.get()), dataset_where, ": cannot read the dataspace"));
    const hssize_t points =
        H5_CHECK(H5Sget_simple_extent_npoints(space.get()), dataset_where, ": cannot read the shape");
    FQ_CHECK(points == 0 || dataset_fully_written(dataset.get(), dataset_where), dataset_where,
             ": not fully written (parts would read as zeros)");
    count_attributes(name);
    ++summary.datasets;
  }
  return summary;
}

}  // namespace fq::store
