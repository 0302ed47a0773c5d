/* Sequence classification plumbing shared by finetune and eval
 * (genomic_benchmarks.md §4.4-4.5): token batches with the official padding
 * (no special tokens, left [PAD], truncation keeps the first max_length
 * bases), predictions over a split, and classifier checkpoints (encoder
 * tensors + decoder.0.output_transform.* + a config naming the task, its
 * sorted classes and max_length). */
#ifndef DS_CMD_GBTASK_H
#define DS_CMD_GBTASK_H

#include "heads.h"
#include "io/gb.h"
#include "model.h"

#define DS_MAX_CLASSES 4096   /* a classifier checkpoint's task.classes, at most */

typedef struct {
    ds_model *m;
    ds_cls_head head;
    int nclass;
    char **classes;
    int max_length;
    char *labels;        /* the label map it was trained with ("0=negative,..."), or NULL */
    char *config;        /* encoder config + "task" object, for checkpoints */
} ds_classifier;

/* The max_length of the official recipes for a dataset directory's name
 * (Caduceus table, genomic_benchmarks.md §4.7), or 0 when unknown. */
int ds_gb_default_max_length(const char *dataset_dir);

/* Prints the split's warning (what was accepted but looks wrong: empty
 * sequences, classes without sequences) as one stderr line, if any. */
void ds_gb_warn(const char *cmd, const ds_gb_split *s);

/* Fills ids [B·L] and labels [B] from records idx[0..n) (n <= B); rows
 * beyond n are all [PAD] with label −1 (left out of the loss). */
void ds_gb_batch(const ds_gb_split *s, const long *idx, int n, int B, int L, int32_t *ids, int32_t *labels,
                 int flags);
/* The tokenizer flags of classifier rows for m: upper-cased, N is N (the
 * recipes' rule), or case kept too for a HyenaDNA checkpoint recording the
 * official tokenizer (ds_model_official_tokens). */
int ds_gb_tok_flags(const ds_model *m);

/* The same with, where rc[b] is set, row b holding the record's reverse
 * complement (tokenized as the official dataset does: RC of the string,
 * then its first L bases, left [PAD]), by the complement map of m (a
 * Caduceus model). rc NULL: ds_gb_batch. */
int ds_gb_batch_strands(const ds_gb_split *s, const long *idx, int n, int B, int L, int32_t *ids, int32_t *labels,
                        const ds_model *m, const unsigned char *rc);

/* finetune's validation hold-out of a train split of n records: a
 * shuffle from seed (*idx, n entries, the caller frees it) whose first
 * *nval = floor(n * val_fraction) (at least 1 when val_fraction > 0)
 * records are held out. eval --split valid rebuilds it from the same
 * numbers. */
int ds_gb_holdout(long n, double val_fraction, long seed, long **idx, long *nval);

/* Builds the classifier around an encoder, with a fresh head; labels: the
 * --labels map of its data (kept in task.labels, so eval reads the same
 * labels the same way), or NULL. */
int ds_classifier_new(ds_classifier *c, ds_model *m, char *const *classes, int nclass, int max_length,
                      const char *labels, uint64_t seed);
/* Loads a classifier checkpoint written by ds_classifier_save. Its task
 * metadata is checked before use: task.classes 2..DS_MAX_CLASSES unique
 * non-empty strings matching the head's outputs, task.max_length in
 * [1, l_max]; each error names the file and the key. */
int ds_classifier_load(ds_classifier *c, const char *path);
int ds_classifier_save(const ds_classifier *c, const char *path, const char *extra_key, const char *extra_val);
/* The same with up to 7 metadata pairs ("derfseq.epoch", ...). */
int ds_classifier_save_meta(const ds_classifier *c, const char *path, const char *const *keys, const char *const *vals,
                            int n_meta);
void ds_classifier_free(ds_classifier *c);
/* 1 when the checkpoint's config names a classification task. */
int ds_checkpoint_is_classifier(const char *path);

/* 1 for a Caduceus-Ph classifier: trained with RC augmentation, it predicts
 * the mean of the logits of each record and of its reverse complement
 * (post-hoc conjoining, caduceus.md §2.6). PS is RC-invariant by itself. */
int ds_classifier_conjoins(const ds_classifier *c);

/* Predicted classes (and, if probs is not NULL, probabilities [n·k]) for
 * every record of s, in batches of B, eval mode (inference layout: the
 * model is reserved again for training afterwards); conjoined for
 * Caduceus-Ph. */
int ds_classifier_predict(ds_classifier *c, const ds_gb_split *s, int B, int *pred, float *probs);

/* Checks a --labels RAW=NAME,... value; a usage error (nonzero) naming it. */
int ds_opt_gb_labels(const char *cmd, const char *arg);

#endif
