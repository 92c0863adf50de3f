// Placeholder translation unit so that fq_pipelines exists before its first stage lands.
namespace fq::pipelines {
int anchor() { return 0; }
}  // namespace fq::pipelines
