// Throughput of the HDF5 activation files (lib/store) against plain POSIX I/O of the same bytes, timed
// in the same run: write (through commit, so fsync included), cold read (page cache dropped with
// posix_fadvise), warm read (page cache). Each is repeated, alternating which of the two goes first.
//
//   bench_activation_store --dir /scratch --samples 32 --seqlen 2048 --hidden 4096 --batch 4
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <string>
#include <vector>

#include <ATen/ATen.h>
#include <boost/program_options.hpp>
#include <fcntl.h>
#include <unistd.h>

#include "lib/core/error.h"
#include "lib/core/stopwatch.h"
#include "lib/store/activation_reader.h"
#include "lib/store/activation_writer.h"
#include "lib/tensor/dtype.h"

namespace po = boost::program_options;

namespace {

struct Config {
  std::string dir;
  std::int64_t samples, seqlen, hidden, batch;
  std::string dtype;
  int deflate_level;
  std::int64_t cache_chunks;
  int repeat;
};

// Drops the file's pages from the page cache (they are clean after fsync), so the next read hits the disk.
void drop_page_cache(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY);
  FQ_CHECK(fd >= 0, "cannot open '", path, "'");
  ::fdatasync(fd);
  ::posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
  ::close(fd);
}

double mib_per_s(double bytes, double seconds) { return bytes / (1024.0 * 1024.0) / seconds; }

// The same bytes as the activation file, in batch-sized write() calls, then fsync.
double raw_write_seconds(const std::string& path, const at::Tensor& batch, std::int64_t batches) {
  fq::Stopwatch watch;
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  FQ_CHECK(fd >= 0, "cannot create '", path, "'");
  for (std::int64_t b = 0; b < batches; ++b) {
    const char* data = static_cast<const char*>(batch.data_ptr());
    size_t left = batch.nbytes();
    while (left > 0) {
      const ssize_t n = ::write(fd, data, left);
      FQ_CHECK(n > 0, "write to '", path, "' failed");
      data += n;
      left -= static_cast<size_t>(n);
    }
  }
  FQ_CHECK(::fsync(fd) == 0, "fsync of '", path, "' failed");
  ::close(fd);
  return watch.seconds();
}

double raw_read_seconds(const std::string& path, at::Tensor& buffer, std::int64_t batches) {
  fq::Stopwatch watch;
  const int fd = ::open(path.c_str(), O_RDONLY);
  FQ_CHECK(fd >= 0, "cannot open '", path, "'");
  for (std::int64_t b = 0; b < batches; ++b) {
    char* data = static_cast<char*>(buffer.data_ptr());
    size_t left = buffer.nbytes();
    off_t offset = static_cast<off_t>(b * buffer.nbytes());
    while (left > 0) {
      const ssize_t n = ::pread(fd, data, left, offset);
      FQ_CHECK(n > 0, "read of '", path, "' failed");
      data += n;
      offset += n;
      left -= static_cast<size_t>(n);
    }
  }
  ::close(fd);
  return watch.seconds();
}

double hdf5_write_seconds(const std::string& path, const Config& config, c10::ScalarType dtype,
                          const at::Tensor& batch) {
  fq::Stopwatch watch;
  fq::store::ActivationWriterOptions options;
  options.deflate_level = config.deflate_level;
  fq::store::ActivationWriter writer(path, 0, {config.samples, config.seqlen, config.hidden}, dtype, options);
  for (std::int64_t begin = 0; begin < config.samples; begin += config.batch) writer.write(begin, batch);
  writer.commit();
  return watch.seconds();
}

double hdf5_read_seconds(const std::string& path, const Config& config, at::Tensor& buffer) {
  fq::Stopwatch watch;
  fq::store::ActivationReaderOptions options;
  options.chunk_cache_chunks = config.cache_chunks;
  fq::store::ActivationReader reader(path, options);
  for (std::int64_t begin = 0; begin < config.samples; begin += config.batch) reader.read_into(begin, buffer);
  return watch.seconds();
}

struct Measurement {
  const char* what;
  std::vector<double> hdf5_seconds, raw_seconds;

  // Runs both in the order given: on a shared virtual disk whichever write goes second waits for the first
  // one's writeback, so the order alternates between repetitions and the medians are reported.
  template <typename Hdf5, typename Raw>
  void time(bool hdf5_first, const Hdf5& hdf5, const Raw& raw) {
    if (hdf5_first) {
      hdf5_seconds.push_back(hdf5());
      raw_seconds.push_back(raw());
    } else {
      raw_seconds.push_back(raw());
      hdf5_seconds.push_back(hdf5());
    }
  }

  void report(double bytes) const {
    const double hdf5 = median(hdf5_seconds);
    const double raw = median(raw_seconds);
    std::printf("%-11s hdf5 %8.1f MiB/s   raw %8.1f MiB/s   hdf5/raw %.2f   (median of %zu)\n", what,
                mib_per_s(bytes, hdf5), mib_per_s(bytes, raw), raw / hdf5, hdf5_seconds.size());
  }

  static double median(std::vector<double> values) {
    std::sort(values.begin(), values.end());
    const size_t n = values.size();
    return n % 2 ? values[n / 2] : 0.5 * (values[n / 2 - 1] + values[n / 2]);
  }
};

int run(const Config& config) {
  FQ_CHECK(config.samples > 0 && config.batch > 0 && config.samples % config.batch == 0,
           "--samples must be a positive multiple of --batch");
  FQ_CHECK(config.repeat > 0, "--repeat must be positive");
  const c10::ScalarType dtype = fq::parse_float_dtype(config.dtype, "--dtype");
  const std::int64_t batches = config.samples / config.batch;
  std::filesystem::create_directories(config.dir);
  const std::string h5_path = config.dir + "/bench_activations.h5";
  const std::string raw_path = config.dir + "/bench_activations.raw";

  at::manual_seed(1);
  const at::Tensor batch = at::randn({config.batch, config.seqlen, config.hidden}).to(dtype);
  at::Tensor buffer = at::empty_like(batch);
  const double bytes = static_cast<double>(batch.nbytes()) * static_cast<double>(batches);
  std::printf("activations [%lld, %lld, %lld] %s = %.1f MiB, batches of %lld samples, deflate %d, cache %lld chunks\n",
              static_cast<long long>(config.samples), static_cast<long long>(config.seqlen),
              static_cast<long long>(config.hidden), fq::dtype_name(dtype).c_str(), bytes / (1024.0 * 1024.0),
              static_cast<long long>(config.batch), config.deflate_level, static_cast<long long>(config.cache_chunks));

  Measurement write{"write+fsync", {}, {}};
  Measurement cold{"cold read", {}, {}};
  Measurement warm{"warm read", {}, {}};
  for (int r = 0; r < config.repeat; ++r) {
    const bool hdf5_first = r % 2 == 0;
    // Both write new files (the HDF5 writer always does: temp + rename), outside the timing.
    std::filesystem::remove(h5_path);
    std::filesystem::remove(raw_path);
    ::sync();
    write.time(
        hdf5_first, [&] { return hdf5_write_seconds(h5_path, config, dtype, batch); },
        [&] { return raw_write_seconds(raw_path, batch, batches); });
    drop_page_cache(h5_path);
    drop_page_cache(raw_path);
    cold.time(
        hdf5_first, [&] { return hdf5_read_seconds(h5_path, config, buffer); },
        [&] { return raw_read_seconds(raw_path, buffer, batches); });
    warm.time(
        hdf5_first, [&] { return hdf5_read_seconds(h5_path, config, buffer); },
        [&] { return raw_read_seconds(raw_path, buffer, batches); });
  }
  write.report(bytes);
  std::printf("file size   hdf5 %.1f MiB (%.3f of raw)\n",
              static_cast<double>(std::filesystem::file_size(h5_path)) / (1024.0 * 1024.0),
              static_cast<double>(std::filesystem::file_size(h5_path)) / bytes);
  cold.report(bytes);
  warm.report(bytes);
  std::filesystem::remove(h5_path);
  std::filesystem::remove(raw_path);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  Config config;
  po::options_description options("bench_activation_store options");
  options.add_options()("help", "print this help")("dir", po::value(&config.dir)->default_value("."),
                                                   "directory for the two temporary files")(
      "samples", po::value(&config.samples)->default_value(32), "samples in the file")(
      "seqlen", po::value(&config.seqlen)->default_value(2048), "tokens per sample")(
      "hidden", po::value(&config.hidden)->default_value(4096), "hidden size")(
      "batch", po::value(&config.batch)->default_value(4), "samples per write and read call")(
      "dtype", po::value(&config.dtype)->default_value("bf16"), "bf16, fp16 or fp32")(
      "deflate", po::value(&config.deflate_level)->default_value(0), "gzip level 0-9 (0: none)")(
      "cache-chunks", po::value(&config.cache_chunks)->default_value(0),
      "reader chunk cache, in chunks (library default 0)")("repeat", po::value(&config.repeat)->default_value(3),
                                                           "repetitions (medians are reported)");
  try {
    po::variables_map vm;
    po::store(po::parse_command_line(argc, argv, options), vm);
    if (vm.count("help")) {
      std::cout << options << "\n";
      return 0;
    }
    po::notify(vm);
    return run(config);
  } catch (const po::error& e) {
    std::cerr << "bench_activation_store: " << e.what() << "\n" << options << "\n";
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "bench_activation_store: " << e.what() << "\n";
    return 1;
  }
}
