// Placeholder translation unit so that fq_kernels exists before its first kernel lands.
namespace fq::kernels {
int anchor() { return 0; }
}  // namespace fq::kernels
