/* Named model presets and the config-JSON model factory (models/model.h). */
#ifndef DS_PRESETS_H
#define DS_PRESETS_H

#include "model.h"

/* The config JSON of preset `name` with the norm swapped to `norm` (NULL:
 * the preset's default, Derf) and α₀ = alpha_init (NaN: default 0.5). */
int ds_preset_config_json(const char *name, const char *norm, float alpha_init, char **json);
/* Sets key to the number v in a config JSON (NaN: leave it as it is). */
int ds_config_set_real(char **json, const char *key, double v);
/* Sets key to the boolean v (v < 0: leave it as it is). */
int ds_config_set_bool(char **json, const char *key, int v);
/* Sets per-role α₀ (NaN: leave unset, i.e. alpha_init) in a config JSON. */
int ds_config_set_role_alphas(char **json, float attn, float ffn, float final_);
/* A model from a checkpoint: its "derfseq.config" metadata (or, beside an
 * official checkpoint, nothing else yet), then every tensor by name and
 * shape. Extra tensors (an untied HF lm_head.weight) are ignored. */
int ds_model_load(ds_model **m, const char *path);
void ds_preset_list(void (*fn)(const char *name, const char *about, void *ctx), void *ctx);

#endif
