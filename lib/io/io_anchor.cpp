// Placeholder translation unit so that the library exists before its first source lands.
namespace fq::io {
int anchor() { return 0; }
}  // namespace fq::io
