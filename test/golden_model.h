/* Model goldens from the PyTorch twins (test/reference/<model>.py): a
 * golden file holds a model config ("derfseq.config"), its parameters
 * (param.<name>), a batch (golden.ids, golden.targets), the twin's float64
 * hidden states, logits, loss, every gradient (grad.<name>) and the losses
 * of 5 AdamW steps. These checks load the parameters by name into the model
 * the config builds and compare the rest at 1e-4 normwise (test.h). */
#ifndef DS_TEST_GOLDEN_MODEL_H
#define DS_TEST_GOLDEN_MODEL_H

void golden_check_forward_and_gradients(const char *path);
void golden_check_adamw_steps(const char *path);

#endif
