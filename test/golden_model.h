/* Whole-model checks shared by the architectures' tests. Model goldens from
 * the PyTorch twins (test/reference/<model>.py): a
 * golden file holds a model config ("derfseq.config"), its parameters
 * (param.<name>), a batch (golden.ids, golden.targets), the twin's float64
 * hidden states, logits, loss, every gradient (grad.<name>) and the losses
 * of 5 AdamW steps. These checks load the parameters by name into the model
 * the config builds and compare the rest at 1e-4 normwise (test.h). */
#ifndef DS_TEST_GOLDEN_MODEL_H
#define DS_TEST_GOLDEN_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "core/arena.h"
#include "io/safetensors.h"

/* Tensor `name` of a golden as float32 (malloc'd; a failed CHECK and NULL
 * when it is missing), its element count in *n (may be NULL). */
float *golden_read_f32(const ds_st_file *f, const char *name, size_t *n);

/* Every parameter of ps from the golden's param.<name> tensors (a failed
 * CHECK for one missing or of another size). */
void golden_load_params(const ds_st_file *f, ds_params *ps);

void golden_check_forward_and_gradients(const char *path);
void golden_check_adamw_steps(const char *path);

/* Builds the model under test (called once per thread count). */
typedef struct ds_model ds_model;
typedef ds_model *(*model_factory)(void);
/* One LM training step's gradients (encode with train = 1, seed 9, step 2;
 * tied or model LM head with ignore index 4) are bitwise the same with 1
 * and with 2 OpenMP threads. */
void check_gradients_do_not_depend_on_thread_count(model_factory make, const int32_t *ids, const int32_t *tgt, int B,
                                                   int L);

#endif
