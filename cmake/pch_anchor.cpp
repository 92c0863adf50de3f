// Compiles the shared precompiled header (torch/torch.h) once; see cmake/FlatquantTargets.cmake.
namespace fq {
int pch_anchor() { return 0; }
}  // namespace fq
