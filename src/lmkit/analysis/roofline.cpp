#include "lmkit/analysis/roofline.h"

#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <vector>

#include "lmkit/core/error.h"
#include "lmkit/core/gemm.h"
#include "lmkit/core/thread_pool.h"

namespace lmkit::analysis {

const std::vector<Device>& devices() {
  // Dense (not 2:4-sparse) BF16 tensor-core peaks: NVIDIA's datasheets print the sparse
  // figure with a footnote "with sparsity"; dense is half of it.
  static const std::vector<Device> d = {
      {"h100", "NVIDIA H100 SXM5 80GB", 989.4e12, 3.35e12, 80e9,
       "NVIDIA H100 Tensor Core GPU datasheet (BF16 1,979 TFLOPS with sparsity -> 989.4 dense; "
       "HBM3 3.35 TB/s; 80 GB)"},
      {"h100-pcie", "NVIDIA H100 PCIe 80GB", 756e12, 2.0e12, 80e9,
       "NVIDIA H100 Tensor Core GPU datasheet (BF16 1,513 TFLOPS with sparsity -> 756 dense; "
       "HBM2e 2 TB/s; 80 GB)"},
      {"h200", "NVIDIA H200 SXM 141GB", 989.4e12, 4.8e12, 141e9,
       "NVIDIA H200 Tensor Core GPU datasheet (BF16 1,979 TFLOPS with sparsity -> 989.4 dense; "
       "HBM3e 4.8 TB/s; 141 GB)"},
      {"a100", "NVIDIA A100 SXM4 80GB", 312e12, 2.039e12, 80e9,
       "NVIDIA A100 Tensor Core GPU datasheet (BF16 312 TFLOPS dense; HBM2e 2,039 GB/s; 80 GB)"},
      {"mi300x", "AMD Instinct MI300X", 1307.4e12, 5.3e12, 192e9,
       "AMD Instinct MI300X data sheet (BF16 1,307.4 TFLOPS dense; HBM3 5.3 TB/s; 192 GB)"},
  };
  return d;
}

std::string device_names() {
  std::string s;
  for (const Device& d : devices()) s += (s.empty() ? "" : ", ") + d.name;
  return s;
}

const Device& find_device(const std::string& name) {
  std::string key = name;
  for (char& c : key) c = char(std::tolower(static_cast<unsigned char>(c)));
  for (const Device& d : devices())
    if (d.name == key) return d;
  fail("unknown device '{}' (expected one of: {})", name, device_names());
}

namespace {

// Sustained read bandwidth: every pool thread sums its slice of a buffer much larger than
// the last-level cache; best of the passes that fit in `seconds`.
double measure_read_bandwidth(double seconds) {
  const size_t n = size_t(64) << 20;  // 64 Mi floats = 256 MiB
  std::vector<float> buf(n, 1.0f);
  ThreadPool& pool = thread_pool();
  std::vector<double> partial(size_t(pool.size()) * 8, 0.0);  // 8-double stride: no false sharing
  double best = 0;
  auto start = std::chrono::steady_clock::now();
  for (int pass = 0; pass < 20; ++pass) {
    auto t0 = std::chrono::steady_clock::now();
    pool.run([&](int tid, int nt) {
      size_t b = n * size_t(tid) / size_t(nt), e = n * size_t(tid + 1) / size_t(nt);
      float s0 = 0, s1 = 0, s2 = 0, s3 = 0;
      size_t i = b;
      for (; i + 4 <= e; i += 4) s0 += buf[i], s1 += buf[i + 1], s2 += buf[i + 2], s3 += buf[i + 3];
      for (; i < e; ++i) s0 += buf[i];
      partial[size_t(tid) * 8] = double(s0 + s1 + s2 + s3);
    });
    double dt = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    double total = 0;
    for (size_t t = 0; t < size_t(pool.size()); ++t) total += partial[t * 8];
    check(total > 0, "bandwidth probe lost its data");  // keeps the reads alive
    best = std::max(best, double(n * sizeof(float)) / dt);
    if (pass >= 2 &&
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() > seconds)
      break;
  }
  return best;
}

}  // namespace

Device measure_host(double seconds) {
  Device d;
  d.name = "host";
  d.description = "this machine (" + std::to_string(num_threads()) + " threads)";
  d.peak_flops = measure_sgemm_gflops(seconds / 2) * 1e9;
  d.bandwidth = measure_read_bandwidth(seconds / 2);
  d.memory_bytes = double(sysconf(_SC_PHYS_PAGES)) * double(sysconf(_SC_PAGE_SIZE));
  d.source = "measured now: fp32 GEMM through core/gemm.h, 256 MiB parallel read";
  return d;
}

Roofline roofline(double flops, double bytes, const Device& d) {
  check(d.peak_flops > 0 && d.bandwidth > 0, "device {} has no peak or bandwidth", d.name);
  Roofline r;
  r.compute_seconds = flops / d.peak_flops;
  r.memory_seconds = bytes / d.bandwidth;
  r.seconds = std::max(r.compute_seconds, r.memory_seconds);
  r.memory_bound = r.memory_seconds > r.compute_seconds;
  r.intensity = bytes > 0 ? flops / bytes : 0;
  r.ridge = d.peak_flops / d.bandwidth;
  return r;
}

}  // namespace lmkit::analysis
