// Placeholder translation unit so that fq_cluster exists before its first source lands.
namespace fq::cluster {
int anchor() { return 0; }
}  // namespace fq::cluster
