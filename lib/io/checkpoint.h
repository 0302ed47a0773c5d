/* A model's parameter table to and from safetensors. Tensor names are the
 * table's (official state-dict) names; the model config JSON is stored in
 * __metadata__ under "derfseq.config". */
#ifndef DS_CHECKPOINT_H
#define DS_CHECKPOINT_H

#include "../core/arena.h"

#define DS_CKPT_CONFIG_KEY "derfseq.config"

/* Writes every tensor (buffers included) atomically. */
int ds_checkpoint_save(const char *path, const ds_params *ps, const char *config_json);
/* Loads every tensor of `ps` by name, checking shapes; fails naming the first
 * tensor that is missing or has the wrong shape:
 *   "model.ckpt: tensor 'x.weight' has wrong shape: expected [768,768], got [768,512]".
 * A 0-dim tensor matches shape [1] (and [1] matches a 0-dim parameter).
 * Unknown tensors in the file are an error when strict, else ignored. On
 * any error the parameters are left unchanged. */
int ds_checkpoint_load(const char *path, ds_params *ps, int strict);
/* The same, leaving the parameters whose names start with `except` (NULL:
 * none) as they are: a fine-tuning head that the pretrained file lacks, or
 * one of another vocabulary. */
int ds_checkpoint_load_except(const char *path, ds_params *ps, int strict, const char *except);
/* The config JSON stored in a checkpoint, malloc'd (NULL + error if absent). */
char *ds_checkpoint_config(const char *path);

#endif
