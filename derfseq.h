/* derfseq.h: the whole public C API of libderfseq (installed as
 * <derfseq/derfseq.h>; `cc $(pkg-config --cflags --libs derfseq)`). The
 * headers include each other by relative path, so this tree and the
 * installed include/derfseq/ resolve alike. */
#ifndef DS_DERFSEQ_H
#define DS_DERFSEQ_H

#include "lib/core/arena.h"
#include "lib/core/error.h"
#include "lib/core/log.h"
#include "lib/core/metrics.h"
#include "lib/core/progress.h"
#include "lib/core/rng.h"
#include "lib/core/threads.h"
#include "lib/io/audio.h"
#include "lib/io/char_vocab.h"
#include "lib/io/checkpoint.h"
#include "lib/io/faidx_check.h"
#include "lib/io/fasta.h"
#include "lib/io/gb.h"
#include "lib/io/genome_windows.h"
#include "lib/io/linebuf.h"
#include "lib/io/mlm.h"
#include "lib/io/npy.h"
#include "lib/io/outfile.h"
#include "lib/io/regions.h"
#include "lib/io/safetensors.h"
#include "lib/io/spanmask.h"
#include "lib/io/speech_data.h"
#include "lib/io/tokenizer.h"
#include "lib/io/trainstate.h"
#include "lib/io/tsv.h"
#include "lib/nn/fftconv.h"
#include "lib/nn/mathfn.h"
#include "lib/nn/norm.h"
#include "lib/nn/ops.h"
#include "lib/nn/optim.h"
#include "models/caduceus.h"
#include "models/config.h"
#include "models/heads.h"
#include "models/hyenadna.h"
#include "models/model.h"
#include "models/presets.h"
#include "models/wav2vec2.h"

#endif
