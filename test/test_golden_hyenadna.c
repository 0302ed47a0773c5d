/* HyenaDNA against its PyTorch twin (test/reference/hyenadna.py): with the
 * twin's parameters loaded by name, hidden states, logits, loss, every
 * parameter gradient and 5 AdamW steps of loss agree with the twin's float64
 * results to 1e-4 normwise (see test.h): the worst seen is 6.6e-6, for the
 * scalar grad of layers.1.norm2.shift, under the Prescott, Sandybridge,
 * Haswell, SkylakeX and Zen OpenBLAS kernels; hidden states and logits stay
 * below 1e-6. */
#include "test.h"
#include "golden_model.h"

TEST(test_hyenadna_layernorm_matches_pytorch_golden) { golden_check_forward_and_gradients("testdata/golden/hyenadna_layernorm.safetensors"); }
TEST(test_hyenadna_derf_matches_pytorch_golden) { golden_check_forward_and_gradients("testdata/golden/hyenadna_derf.safetensors"); }
TEST(test_hyenadna_layernorm_adamw_steps_match_pytorch_golden) { golden_check_adamw_steps("testdata/golden/hyenadna_layernorm.safetensors"); }
TEST(test_hyenadna_derf_adamw_steps_match_pytorch_golden) { golden_check_adamw_steps("testdata/golden/hyenadna_derf.safetensors"); }
