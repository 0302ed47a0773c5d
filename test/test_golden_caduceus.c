/* Caduceus against its PyTorch twin (test/reference/caduceus.py, which the
 * twin's author also checked against the official modules): PS with the
 * released checkpoints' fused RMSNorm add-norm (the half swap), PS unfused
 * with Derf, Ph with Derf; weights perturbed off their init. Hidden states,
 * MLM logits and loss, every gradient and 5 AdamW steps agree with the
 * twin's float64 results to 1e-4 normwise. */
#include "test.h"
#include "golden_model.h"

#define G(x) "testdata/golden/caduceus_" x ".safetensors"

TEST(test_caduceus_ps_fused_rmsnorm_matches_pytorch_golden) { golden_check_forward_and_gradients(G("ps_fused_rmsnorm")); }
TEST(test_caduceus_ps_unfused_derf_matches_pytorch_golden) { golden_check_forward_and_gradients(G("ps_unfused_derf")); }
TEST(test_caduceus_ph_derf_matches_pytorch_golden) { golden_check_forward_and_gradients(G("ph_derf")); }
TEST(test_caduceus_ps_fused_rmsnorm_adamw_steps_match_pytorch_golden) { golden_check_adamw_steps(G("ps_fused_rmsnorm")); }
TEST(test_caduceus_ps_unfused_derf_adamw_steps_match_pytorch_golden) { golden_check_adamw_steps(G("ps_unfused_derf")); }
TEST(test_caduceus_ph_derf_adamw_steps_match_pytorch_golden) { golden_check_adamw_steps(G("ph_derf")); }
