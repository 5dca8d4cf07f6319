// Roofline estimates (Williams, Waterman & Patterson 2009, "Roofline: an insightful visual
// performance model"): a pass that performs F FLOPs and moves B bytes takes at least
// max(F / peak FLOP/s, B / bandwidth). Devices are named accelerators with datasheet figures
// (cited per device) or this machine, measured.
#pragma once
#include <string>
#include <vector>

namespace lmkit::analysis {

struct Device {
  std::string name;         // "h100", "host"
  std::string description;  // "NVIDIA H100 SXM5 80GB"
  double peak_flops = 0;    // FLOP/s (accelerators: dense BF16 tensor-core peak)
  double bandwidth = 0;     // bytes/s of main memory (HBM / DRAM)
  double memory_bytes = 0;  // capacity
  std::string source;       // datasheet, or how it was measured
};

const std::vector<Device>& devices();  // named accelerators
// The accelerator called `name` (case-insensitive); throws lmkit::Error listing the names.
const Device& find_device(const std::string& name);
std::string device_names();

// This machine: fp32 GEMM throughput through lmkit's GEMM path (core/gemm.h
// measure_sgemm_gflops, all pool threads) and read bandwidth of a 256 MiB buffer summed by
// all pool threads (best of a few passes); capacity from sysconf. Takes about `seconds`.
Device measure_host(double seconds = 0.6);

struct Roofline {
  double compute_seconds = 0;  // F / peak
  double memory_seconds = 0;   // B / bandwidth
  double seconds = 0;          // the larger
  bool memory_bound = false;
  double intensity = 0;  // F / B (FLOPs per byte)
  double ridge = 0;      // peak / bandwidth: intensity above which compute bounds
};
Roofline roofline(double flops, double bytes, const Device& d);

}  // namespace lmkit::analysis
