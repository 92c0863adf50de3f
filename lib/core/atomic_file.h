// Crash-safe file replacement: write to a temporary name, fsync, rename, fsync the directory.
// A reader therefore sees either the old file or the complete new one, never a torn write, even when
// the process is killed in the middle (leveldb's SetCurrentFile; DeepGEMM's kernel cache).
#pragma once

#include <string>
#include <string_view>

namespace fq {

// `<path>.tmp.<pid>`: unique per process, so ranks sharing a filesystem never write the same temp file.
std::string temp_path_for(const std::string& path);

// fsyncs `tmp`, renames it over `path`, fsyncs the directory. Throws fq::Error naming both paths.
void commit_file(const std::string& tmp, const std::string& path);

// Writes `bytes` to `path` atomically (temp + fsync + rename).
void write_file_atomic(const std::string& path, std::string_view bytes);

// Reads a whole file; throws fq::Error naming the file when it is missing or unreadable.
std::string read_file(const std::string& path);

// Removes stale `<name>.tmp.*` files left by killed processes in `dir`; returns how many.
int remove_stale_temp_files(const std::string& dir);

}  // namespace fq
