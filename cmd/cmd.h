/* The subcommands main.c dispatches to, minimap2-style: each parses its own
 * options and returns the exit status (0 ok, 1 runtime error, 2 usage). */
#ifndef DS_CMD_H
#define DS_CMD_H

int main_pretrain(int argc, char **argv);
int main_pretrain_speech(int argc, char **argv);   /* pretrain on a wav2vec2 model */
int main_finetune(int argc, char **argv);
int main_finetune_ctc(int argc, char **argv);    /* finetune --task ctc on a wav2vec2 model */
int main_eval(int argc, char **argv);
int main_embed(int argc, char **argv);
int main_info(int argc, char **argv);
int main_compare(int argc, char **argv);

#endif
