#include "lmkit/tokenizer/unigram_trainer.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <thread>
#include <unordered_map>

#include "lmkit/core/error.h"
#include "lmkit/tokenizer/sentencepiece_vocab.h"

namespace lmkit {

namespace {

constexpr double kUnkPenalty = 10.0;                  // unigram_model.cc kUnkPenalty
constexpr double kExpectedFrequencyThreshold = 0.5;   // unigram_model_trainer.cc RunMStep

// unigram_model_trainer.cc Digamma (asymptotic series after shifting x >= 7).
double digamma(double x) {
  double result = 0.0;
  for (; x < 7; ++x) result -= 1 / x;
  x -= 1.0 / 2.0;
  const double xx = 1.0 / x;
  const double xx2 = xx * xx;
  const double xx4 = xx2 * xx2;
  result += std::log(x) + (1.0 / 24.0) * xx2 - (7.0 / 960.0) * xx4 + (31.0 / 8064.0) * xx4 * xx2 -
            (127.0 / 30720.0) * xx4 * xx4;
  return result;
}

double log_sum_exp(double a, double b) {
  if (a == -std::numeric_limits<double>::infinity()) return b;
  if (b == -std::numeric_limits<double>::infinity()) return a;
  const double m = std::max(a, b);
  return m + std::log(std::exp(a - m) + std::exp(b - m));
}

size_t char_len(const std::string& s, size_t i) { return std::min(spm_one_char_len(s[i]), s.size() - i); }
size_t count_chars(std::string_view s) {
  size_t n = 0;
  for (char c : s) n += (static_cast<uint8_t>(c) & 0xC0) != 0x80;
  return n;
}
bool is_digit_char(std::string_view c) { return c.size() == 1 && c[0] >= '0' && c[0] <= '9'; }

using Pieces = std::vector<std::pair<std::string, double>>;

// sentencepiece's Sorted(): score descending, then the piece ascending (deterministic).
void sort_pieces(Pieces& p) {
  std::sort(p.begin(), p.end(), [](const auto& a, const auto& b) {
    return a.second > b.second || (a.second == b.second && a.first < b.first);
  });
}

// The model under training: pieces with log-probability scores and a trie for lattices.
struct Model {
  Pieces pieces;
  PieceTrie trie;
  double min_score = 0;
  const std::unordered_map<std::string, bool>* required = nullptr;  // kept characters

  void set(Pieces p) {
    pieces = std::move(p);
    std::vector<std::pair<std::string_view, int32_t>> keys;
    keys.reserve(pieces.size());
    min_score = std::numeric_limits<double>::infinity();
    for (size_t i = 0; i < pieces.size(); ++i) {
      keys.emplace_back(pieces[i].first, static_cast<int32_t>(i));
      min_score = std::min(min_score, pieces[i].second);
    }
    if (pieces.empty()) min_score = 0;
    trie = PieceTrie(std::move(keys));
  }

  // Lattice nodes of `w` (unigram_model.cc PopulateNodes): every piece at every character
  // start, plus an unknown node (id -1) where no single-character piece exists.
  struct Node {
    uint32_t begin, end;
    int32_t id;
    double score;
  };
  void nodes(const std::string& w, std::vector<Node>& out, const int32_t* exclude_full = nullptr) const {
    out.clear();
    for (size_t pos = 0; pos < w.size();) {
      const size_t clen = char_len(w, pos);
      bool single = false;
      trie.common_prefix_search(std::string_view(w).substr(pos), [&](size_t len, int32_t id) {
        if (exclude_full && pos == 0 && len == w.size() && id == *exclude_full) return;
        out.push_back(Node{static_cast<uint32_t>(pos), static_cast<uint32_t>(pos + len), id, pieces[static_cast<size_t>(id)].second});
        if (len == clen) single = true;
      });
      if (!single)
        out.push_back(Node{static_cast<uint32_t>(pos), static_cast<uint32_t>(pos + clen), -1, min_score - kUnkPenalty});
      pos += clen;
    }
  }
};

// Forward-backward over the lattice: adds freq * P(node) to expected[id]; returns log Z.
double populate_marginal(const std::string& w, const std::vector<Model::Node>& nodes, double freq,
                         std::vector<double>& expected, std::vector<double>& alpha, std::vector<double>& beta) {
  const double ninf = -std::numeric_limits<double>::infinity();
  alpha.assign(w.size() + 1, ninf);
  beta.assign(w.size() + 1, ninf);
  alpha[0] = 0;
  // Nodes are generated in increasing begin order.
  for (const auto& n : nodes) alpha[n.end] = log_sum_exp(alpha[n.end], alpha[n.begin] + n.score);
  beta[w.size()] = 0;
  for (auto it = nodes.rbegin(); it != nodes.rend(); ++it) beta[it->begin] = log_sum_exp(beta[it->begin], it->score + beta[it->end]);
  const double z = alpha[w.size()];
  for (const auto& n : nodes) {
    if (n.id < 0) continue;
    const double p = std::exp(alpha[n.begin] + n.score + beta[n.end] - z);
    expected[static_cast<size_t>(n.id)] += freq * p;
  }
  return z;
}

// Best path (Viterbi) ids of the lattice; -1 for unknown nodes.
void viterbi(const std::string& w, const std::vector<Model::Node>& nodes, std::vector<int32_t>& path,
             std::vector<double>& best, std::vector<int32_t>& back) {
  const double ninf = -std::numeric_limits<double>::infinity();
  best.assign(w.size() + 1, ninf);
  back.assign(w.size() + 1, -1);
  best[0] = 0;
  for (size_t k = 0; k < nodes.size(); ++k) {
    const auto& n = nodes[k];
    if (best[n.begin] == ninf) continue;
    const double s = best[n.begin] + n.score;
    if (s > best[n.end]) {
      best[n.end] = s;
      back[n.end] = static_cast<int32_t>(k);
    }
  }
  path.clear();
  size_t pos = w.size();
  while (pos > 0 && back[pos] >= 0) {
    const auto& n = nodes[static_cast<size_t>(back[pos])];
    path.push_back(n.id);
    pos = n.begin;
  }
  std::reverse(path.begin(), path.end());
}

template <typename F>
void parallel_shards(int threads, size_t n, F&& f) {
  threads = std::max(1, std::min<int>(threads, static_cast<int>(std::max<size_t>(n / 64, 1))));
  if (threads == 1) {
    f(0, 0, n);
    return;
  }
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t)
    pool.emplace_back([&, t] { f(t, n * static_cast<size_t>(t) / threads, n * static_cast<size_t>(t + 1) / threads); });
  for (auto& th : pool) th.join();
}

}  // namespace

UnigramVocab train_unigram(const std::vector<std::pair<std::string, uint64_t>>& word_counts,
                           const UnigramTrainerOptions& o) {
  const size_t meta = 1 + o.special_tokens.size() + (o.byte_fallback ? 256 : 0);
  check(o.vocab_size > static_cast<int32_t>(meta), "unigram trainer: vocab_size {} leaves no room after {} special/byte pieces",
        o.vocab_size, meta);
  check(o.shrinking_factor > 0 && o.shrinking_factor < 1, "unigram trainer: shrinking_factor must be in (0, 1)");
  check(o.max_piece_length >= 1, "unigram trainer: max_piece_length must be >= 1");

  // Words: valid UTF-8 only (invalid bytes are left to byte fallback at encode time).
  std::vector<std::pair<std::string, double>> words;
  words.reserve(word_counts.size());
  std::unordered_map<std::string, uint64_t> char_freq;
  for (const auto& [w, c] : word_counts) {
    if (w.empty() || c == 0) continue;
    size_t pos = 0;
    bool ok = true;
    while (pos < w.size() && ok) {
      size_t len = 1;
      ok = spm_valid_utf8_prefix(std::string_view(w).substr(pos), len);
      pos += len;
    }
    if (!ok) continue;
    words.emplace_back(w, static_cast<double>(c));
    for (pos = 0; pos < w.size();) {
      const size_t len = char_len(w, pos);
      char_freq[w.substr(pos, len)] += c;
      pos += len;
    }
  }
  check(!words.empty(), "unigram trainer: no training text");

  // Required characters: the most frequent ones covering character_coverage of the
  // text (trainer_interface.cc); the rest are unknown (byte fallback).
  std::vector<std::pair<std::string, uint64_t>> chars(char_freq.begin(), char_freq.end());
  std::sort(chars.begin(), chars.end(),
            [](const auto& a, const auto& b) { return a.second > b.second || (a.second == b.second && a.first < b.first); });
  const double total_chars = std::accumulate(chars.begin(), chars.end(), 0.0, [](double s, const auto& c) { return s + static_cast<double>(c.second); });
  std::unordered_map<std::string, bool> required;
  double covered = 0;
  for (const auto& [c, f] : chars) {
    if (!required.empty() && covered / total_chars >= o.character_coverage) break;
    required[c] = true;
    covered += static_cast<double>(f);
  }

  // Seed pieces: every required character, plus the substrings (up to max_piece_length
  // characters, within a word, made of required characters, not mixing digits with other
  // characters, occurring at least twice) ranked by frequency * length, as
  // MakeSeedSentencePieces ranks suffix-array substrings - here counted with the word
  // frequencies, so streamed word counts give the same seeds as the whole text.
  std::unordered_map<std::string, double> sub_freq;
  std::vector<size_t> starts;
  for (const auto& [w, f] : words) {
    starts.clear();
    for (size_t pos = 0; pos < w.size(); pos += char_len(w, pos)) starts.push_back(pos);
    starts.push_back(w.size());
    const size_t n = starts.size() - 1;
    for (size_t i = 0; i < n; ++i) {
      bool has_digit = false, has_other = false;
      for (size_t j = i + 1; j <= n && j - i <= static_cast<size_t>(o.max_piece_length); ++j) {
        const std::string_view c = std::string_view(w).substr(starts[j - 1], starts[j] - starts[j - 1]);
        if (!required.count(std::string(c))) break;
        (is_digit_char(c) ? has_digit : has_other) = true;
        if (has_digit && has_other) break;
        if (j - i < 2) continue;
        sub_freq[w.substr(starts[i], starts[j] - starts[i])] += f;
      }
    }
  }
  Pieces seeds;
  for (const auto& [c, f] : chars)
    if (required.count(c)) seeds.emplace_back(c, static_cast<double>(f));
  Pieces subs;
  subs.reserve(sub_freq.size());
  for (auto& [s, f] : sub_freq)
    if (f >= 2) subs.emplace_back(s, f * static_cast<double>(count_chars(s)));
  sub_freq.clear();
  sort_pieces(subs);
  for (auto& p : subs) {
    if (seeds.size() >= o.seed_size) break;
    seeds.push_back(std::move(p));
  }
  subs.clear();
  {  // ToLogProb
    double sum = 0;
    for (const auto& p : seeds) sum += p.second;
    const double logsum = std::log(sum);
    for (auto& p : seeds) p.second = std::log(p.second) - logsum;
  }

  Model model;
  model.required = &required;
  model.set(std::move(seeds));
  const size_t learned_target = static_cast<size_t>(o.vocab_size) - meta;
  const size_t desired = static_cast<size_t>(static_cast<double>(learned_target) * 1.1);
  const int threads = std::max(1, o.num_threads);

  while (true) {
    for (int iter = 0; iter < o.num_sub_iterations; ++iter) {
      // E step (RunEStep): expected piece counts under the current model.
      std::vector<std::vector<double>> expected(static_cast<size_t>(threads), std::vector<double>(model.pieces.size(), 0.0));
      parallel_shards(threads, words.size(), [&](int t, size_t lo, size_t hi) {
        std::vector<Model::Node> nodes;
        std::vector<double> alpha, beta;
        for (size_t i = lo; i < hi; ++i) {
          model.nodes(words[i].first, nodes);
          populate_marginal(words[i].first, nodes, words[i].second, expected[static_cast<size_t>(t)], alpha, beta);
        }
      });
      for (size_t t = 1; t < expected.size(); ++t)
        for (size_t k = 0; k < expected[0].size(); ++k) expected[0][k] += expected[t][k];
      // M step (RunMStep): drop rare pieces, Bayesian (digamma) re-estimation.
      Pieces next;
      double sum = 0;
      for (size_t k = 0; k < model.pieces.size(); ++k) {
        if (expected[0][k] < kExpectedFrequencyThreshold) continue;
        next.emplace_back(model.pieces[k].first, expected[0][k]);
        sum += expected[0][k];
      }
      const double logsum = digamma(sum);
      for (auto& p : next) p.second = digamma(p.second) - logsum;
      model.set(std::move(next));
    }
    if (model.pieces.size() <= desired) break;

    // Pruning (PruneSentencePieces): the likelihood lost when a piece is replaced by its
    // second-best segmentation; keep the best shrinking_factor of them.
    const size_t n = model.pieces.size();
    std::vector<char> always_keep(n, 1);
    std::vector<std::vector<int32_t>> alternatives(n);
    {
      std::vector<Model::Node> nodes;
      std::vector<int32_t> path;
      std::vector<double> best;
      std::vector<int32_t> back;
      for (size_t i = 0; i < n; ++i) {
        const std::string& w = model.pieces[i].first;
        model.nodes(w, nodes);
        viterbi(w, nodes, path, best, back);
        if (path.size() >= 2) {
          always_keep[i] = 0;  // its own Viterbi path splits it: removable
          continue;
        }
        const int32_t self = static_cast<int32_t>(i);
        model.nodes(w, nodes, &self);
        viterbi(w, nodes, path, best, back);
        if (path.empty() || (path.size() == 1 && path[0] == self)) continue;  // no alternative
        alternatives[i] = path;
      }
    }
    std::vector<double> freq(n, 0.0), inv_freq(n, 0.0);
    double vsum = 0;
    {
      std::vector<std::vector<double>> freqs(static_cast<size_t>(threads), std::vector<double>(n, 0.0));
      std::vector<std::vector<double>> invs(static_cast<size_t>(threads), std::vector<double>(n, 0.0));
      std::vector<double> vsums(static_cast<size_t>(threads), 0.0);
      parallel_shards(threads, words.size(), [&](int t, size_t lo, size_t hi) {
        std::vector<Model::Node> nodes;
        std::vector<int32_t> path;
        std::vector<double> best;
        std::vector<int32_t> back;
        for (size_t i = lo; i < hi; ++i) {
          model.nodes(words[i].first, nodes);
          viterbi(words[i].first, nodes, path, best, back);
          vsums[static_cast<size_t>(t)] += words[i].second;
          for (int32_t id : path) {
            if (id < 0) continue;
            freqs[static_cast<size_t>(t)][static_cast<size_t>(id)] += words[i].second;
            // inverted[i] in sentencepiece lists the sentence once per occurrence.
            invs[static_cast<size_t>(t)][static_cast<size_t>(id)] += words[i].second;
          }
        }
      });
      for (size_t t = 0; t < freqs.size(); ++t) {
        vsum += vsums[t];
        for (size_t k = 0; k < n; ++k) {
          freq[k] += freqs[t][k];
          inv_freq[k] += invs[t][k];
        }
      }
    }
    const double sum = std::accumulate(freq.begin(), freq.end(), 0.0);
    const double logsum = std::log(sum);
    Pieces kept;
    std::vector<std::pair<size_t, double>> candidates;
    for (size_t i = 0; i < n; ++i) {
      if (freq[i] == 0 || !always_keep[i]) continue;
      if (alternatives[i].empty()) {
        kept.push_back(model.pieces[i]);
        continue;
      }
      const double F = inv_freq[i] / vsum;
      const double logprob_sp = std::log(freq[i]) - logsum;
      const double logsum_alt = std::log(sum + freq[i] * (static_cast<double>(alternatives[i].size()) - 1));
      double logprob_alt = 0;
      for (int32_t a : alternatives[i]) {
        const double fa = a >= 0 ? freq[static_cast<size_t>(a)] : 0.0;
        logprob_alt += std::log(fa + freq[i]) - logsum_alt;
      }
      candidates.emplace_back(i, F * (logprob_sp - logprob_alt));
    }
    const size_t pruned_size = std::max(desired, static_cast<size_t>(o.shrinking_factor * static_cast<double>(n)));
    std::sort(candidates.begin(), candidates.end(), [&](const auto& a, const auto& b) {
      return a.second > b.second || (a.second == b.second && model.pieces[a.first].first < model.pieces[b.first].first);
    });
    for (const auto& [i, loss] : candidates) {
      if (kept.size() >= pruned_size) break;
      kept.push_back(model.pieces[i]);
    }
    if (kept.size() >= n) break;  // nothing could be pruned
    model.set(std::move(kept));
  }

  // FinalizeSentencePieces: required characters first (absent ones at the minimum score
  // plus a small increasing penalty), then the best-scoring pieces up to the size.
  std::unordered_map<std::string, double> score_of;
  for (const auto& p : model.pieces) score_of[p.first] = p.second;
  Pieces final_pieces;
  std::unordered_map<std::string, bool> in_final;
  double penalty = 0;
  for (const auto& [c, f] : chars) {
    if (!required.count(c) || final_pieces.size() >= learned_target) continue;
    auto it = score_of.find(c);
    final_pieces.emplace_back(c, it != score_of.end() ? it->second : model.min_score + penalty);
    if (it == score_of.end()) penalty += 0.0001;
    in_final[c] = true;
  }
  Pieces sorted = model.pieces;
  sort_pieces(sorted);
  for (const auto& p : sorted) {
    if (final_pieces.size() >= learned_target) break;
    if (in_final.count(p.first)) continue;
    final_pieces.push_back(p);
    in_final[p.first] = true;
  }
  sort_pieces(final_pieces);

  UnigramVocab out;
  out.byte_fallback = o.byte_fallback;
  out.special_tokens = o.special_tokens;
  out.unk_id = 0;
  out.pieces.emplace_back(o.unk_token, 0.0);
  for (const auto& s : o.special_tokens) out.pieces.emplace_back(s, 0.0);
  if (o.byte_fallback)
    for (int b = 0; b < 256; ++b) out.pieces.emplace_back(spm_byte_piece(static_cast<uint8_t>(b)), 0.0);
  std::unordered_map<std::string, bool> seen;
  for (const auto& p : out.pieces) seen[p.first] = true;
  for (auto& p : final_pieces)
    if (!seen.count(p.first)) out.pieces.push_back(std::move(p));
  return out;
}

}  // namespace lmkit
