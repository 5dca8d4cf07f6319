// lmkit side of the tokenizer benchmark (bench/tokenizer/run.sh runs it interleaved with
// the node side). Prints one JSON line: load time, encode and decode MB/s (median of
// --repeats), single thread unless --threads says otherwise.
// Usage: lmkit_tokenizer_bench TOKENIZER TEXT [--repeats N] [--threads N]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "lmkit/core/thread_pool.h"
#include "lmkit/io/tokenizer_loader.h"

using Clock = std::chrono::steady_clock;

static double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

static double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: %s TOKENIZER TEXT [--repeats N] [--threads N]\n", argv[0]);
    return 2;
  }
  int repeats = 5, threads = 1;
  for (int i = 3; i + 1 < argc; i += 2) {
    std::string a = argv[i];
    if (a == "--repeats") repeats = std::atoi(argv[i + 1]);
    if (a == "--threads") threads = std::atoi(argv[i + 1]);
  }
  lmkit::set_num_threads(threads);
  try {
    std::string text = lmkit::read_file_bytes(argv[2]);
    std::vector<double> load_s, enc_s, dec_s;
    std::unique_ptr<lmkit::Tokenizer> tok;
    for (int r = 0; r < std::max(3, repeats); ++r) {
      auto t0 = Clock::now();
      tok = lmkit::load_tokenizer(argv[1]);
      load_s.push_back(seconds_since(t0));
    }
    std::vector<int32_t> ids;
    for (int r = 0; r < repeats; ++r) {
      auto t0 = Clock::now();
      ids = tok->encode(text);
      enc_s.push_back(seconds_since(t0));
    }
    std::string back;
    for (int r = 0; r < repeats; ++r) {
      auto t0 = Clock::now();
      back = tok->decode(ids);
      dec_s.push_back(seconds_since(t0));
    }
    double mb = double(text.size()) / 1e6;
    std::printf(
        "{\"tool\":\"lmkit\",\"bytes\":%zu,\"tokens\":%zu,\"load_ms\":%.1f,\"encode_mb_s\":%.2f,"
        "\"decode_mb_s\":%.1f,\"round_trip\":%s}\n",
        text.size(), ids.size(), median(load_s) * 1e3, mb / median(enc_s), double(back.size()) / 1e6 / median(dec_s),
        back == text ? "true" : "false");
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
  return 0;
}
