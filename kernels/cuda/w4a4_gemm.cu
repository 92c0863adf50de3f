#include "kernels/cuda/w4a4_gemm.cuh"

#include "kernels/cuda/cuda_check.cuh"
#include "kernels/cuda/w4a4_gemm_tile.cuh"

namespace fq::kernels::gpu {

void launch_w4a4_gemm(const W4A4GemmArgs& args, W4A4GemmKernel kernel, cudaStream_t stream) {
  FQ_CHECK(args.k % 32 == 0 && args.k > 0 && args.k <= 65536, "launch_w4a4_gemm: K = ", args.k,
           " must be a positive multiple of 32 and at most 65536 (int32-exact sums)");
  FQ_CHECK(args.n % 8 == 0 && args.n > 0, "launch_w4a4_gemm: N = ", args.n, " must be a positive multiple of 8");
  FQ_CHECK(reinterpret_cast<uintptr_t>(args.a) % 16 == 0 && reinterpret_cast<uintptr_t>(args.b) % 16 == 0,
           "launch_w4a4_gemm: the packed operands must be 16-byte aligned");
  FQ_CHECK(reinterpret_cast<uintptr_t>(args.out) % 16 == 0,
           "launch_w4a4_gemm: the bf16 output must be 16-byte aligned (rows are stored in 16-byte chunks)");
  FQ_CHECK((args.out != nullptr) != (args.out_accumulators != nullptr),
           "launch_w4a4_gemm: exactly one of out and out_accumulators must be set");
  FQ_CHECK(args.expert_offsets == nullptr || (args.experts <= ExpertTiles::kMaxExperts && args.m < (int64_t{1} << 31)),
           "launch_w4a4_gemm: a grouped GEMM takes at most ", ExpertTiles::kMaxExperts, " experts and 2^31 rows (",
           args.experts, " experts, ", args.m, " rows)");
  if (args.m == 0) return;
  // Rows per expert (all rows for a dense weight) decide: at 256 rows mma.sync was faster on 5 of 6
  // LLaMA-70B / DeepSeek V3 shapes, from 2048 rows wgmma on all of them.
  const int64_t rows = args.expert_offsets != nullptr ? ceil_div(args.m, args.experts) : args.m;
  const bool wgmma = kernel == W4A4GemmKernel::kWgmma ||
                     (kernel == W4A4GemmKernel::kAuto && rows > 256 && wgmma_available());
  if (wgmma) {
    launch_w4a4_gemm_wgmma(args, stream);
  } else {
    launch_w4a4_gemm_mma_sync(args, stream);
  }
}

}  // namespace fq::kernels::gpu
