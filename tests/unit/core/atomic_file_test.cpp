#include "lib/core/atomic_file.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "lib/core/error.h"
#include "tests/support/shared_dir.h"

namespace fq {
namespace {

TEST(AtomicFile, WritesAndReplacesWholeFile) {
  const std::string dir = test::scratch_dir("atomic_file");
  const std::string path = dir + "/a.txt";
  write_file_atomic(path, "first");
  EXPECT_EQ(read_file(path), "first");
  write_file_atomic(path, "second version");
  EXPECT_EQ(read_file(path), "second version");
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    EXPECT_EQ(e.path().filename().string().find(".tmp."), std::string::npos) << "temp file left behind";
  }
}

TEST(AtomicFile, StaleTempFilesAreRemoved) {
  const std::string dir = test::scratch_dir("atomic_file_stale");
  write_file_atomic(dir + "/keep.json", "{}");
  { std::ofstream(dir + "/layer_3.h5.tmp.12345") << "half written"; }
  EXPECT_EQ(remove_stale_temp_files(dir), 1);
  EXPECT_TRUE(std::filesystem::exists(dir + "/keep.json"));
}

TEST(AtomicFile, MissingFileErrorNamesThePath) {
  try {
    read_file("/nonexistent/dir/file.bin");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("/nonexistent/dir/file.bin"), std::string::npos);
  }
}

}  // namespace
}  // namespace fq
