// Scaling laws of language-model loss in parameters N, training tokens D and compute C.
//
// Chinchilla: Hoffmann et al. 2022, "Training Compute-Optimal Large Language Models"
// (arXiv:2203.15556). Approach 3 fits the parametric loss (Eq. 2)
//     L(N, D) = E + A / N^alpha + B / D^beta,
// E = 1.69, A = 406.4, B = 410.7, alpha = 0.34, beta = 0.28 (Sec. 3.3), and minimises it
// under the FLOPs constraint C = 6 N D (Eq. 3-4, Appendix D.2) in closed form:
//     N_opt(C) = G (C/6)^a,  D_opt(C) = G^-1 (C/6)^b,
//     G = (alpha A / (beta B))^(1/(alpha+beta)),  a = beta/(alpha+beta),  b = alpha/(alpha+beta).
// Table 3 lists Approach 1's projections (printed by `lmkit scaling` next to Approach 3's).
//
// Kaplan et al. 2020, "Scaling Laws for Neural Language Models" (arXiv:2001.08361), with N
// the non-embedding parameters and C in PF-days (1 PF-day = 8.64e19 FLOPs, Sec. 1.3):
//     Eq. (1.1) L(N) = (N_c/N)^alpha_N,           alpha_N = 0.076, N_c = 8.8e13
//     Eq. (1.2) L(D) = (D_c/D)^alpha_D,           alpha_D = 0.095, D_c = 5.4e13 tokens
//     Eq. (1.3) L(C_min) = (C_c/C_min)^alpha_C,   alpha_C = 0.050, C_c = 3.1e8 PF-days
//     Eq. (1.5) L(N, D) = [(N_c/N)^(alpha_N/alpha_D) + D_c/D]^alpha_D
//     Eq. (6.1) and Appendix A Table 6: compute-efficient N_opt = 1.3e9 C_min^0.73 (PF-days),
//     D_opt = 2e10 C_min^0.27 tokens (one epoch), B = 2.0e6 C_min^0.24 tokens,
//     S_min = 5.4e3 C_min^0.03 steps.
#pragma once
#include <string>
#include <vector>

namespace lmkit::analysis {

constexpr double kPetaflopDay = 8.64e19;  // FLOPs (Kaplan et al. 2020, Sec. 1.3)

struct ChinchillaLaw {
  double E = 1.69, A = 406.4, B = 410.7, alpha = 0.34, beta = 0.28;
  double loss(double N, double D) const;
  double G() const;
  double a() const;  // N_opt exponent beta/(alpha+beta)
  double b() const;  // D_opt exponent alpha/(alpha+beta)
};

struct Allocation {
  double params = 0, tokens = 0, loss = 0, compute = 0;  // compute = 6 N D
};

// Approach 3 closed form (Eq. 4) for a compute budget C (FLOPs).
Allocation chinchilla_optimal(const ChinchillaLaw& law, double C);
// The same found numerically: golden-section minimisation of L(N, C/(6N)) over log N.
Allocation chinchilla_optimal_numeric(const ChinchillaLaw& law, double C);
// The compute for which `N` parameters are Approach-3 optimal, and its allocation.
Allocation chinchilla_optimal_for_params(const ChinchillaLaw& law, double N);
// The "~20 tokens per parameter" rule of thumb (D = 20 N, C = 6 N D = 120 N^2).
Allocation twenty_tokens_per_param(const ChinchillaLaw& law, double C);

// Hoffmann et al. 2022, Table 3 (Approach 1 projections).
struct Table3Row {
  double params;
  double flops;
  std::string gopher_units;  // "1/29,968" ... as printed
  double tokens;
};
const std::vector<Table3Row>& chinchilla_table3();

struct KaplanLaw {
  double alpha_N = 0.076, N_c = 8.8e13;
  double alpha_D = 0.095, D_c = 5.4e13;
  double alpha_C = 0.050, C_c = 3.1e8;       // PF-days
  double loss_N(double N) const;             // Eq. (1.1)
  double loss_D(double D) const;             // Eq. (1.2)
  double loss_C(double C_flops) const;       // Eq. (1.3)
  double loss_ND(double N, double D) const;  // Eq. (1.5)
};

struct KaplanAllocation {
  double params = 0;                // non-embedding, Eq. (6.1) / Table 6: 1.3e9 C^0.73
  double tokens = 0;                // C / (6 N)
  double tokens_one_epoch_fit = 0;  // Table 6: 2e10 C^0.27
  double batch_tokens = 0;          // Table 6: 2.0e6 C^0.24
  double steps = 0;                 // Table 6: 5.4e3 C^0.03
  double loss_at_allocation = 0;    // Eq. (1.5) at (params, tokens)
  double loss_C = 0;                // Eq. (1.3)
};
KaplanAllocation kaplan_optimal(const KaplanLaw& law, double C_flops);

// Validates a positive finite quantity from the command line (name for the message).
void check_positive(double v, const std::string& name, double max = 1e40);

}  // namespace lmkit::analysis
