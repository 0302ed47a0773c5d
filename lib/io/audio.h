/* One audio file in, float32 mono samples at the model's rate out (derfseq.md
 * "Inputs", Audio). Decoding is libsndfile's (WAV, FLAC, OGG Vorbis/Opus, MP3
 * in libsndfile >= 1.1, AIFF, AU, CAF, W64, ...; 8/16/24/32-bit PCM, float
 * and double), so the samples are libsndfile's normalised floats (PCM
 * divided by 2^(bits-1)). Channels are mixed to mono by their mean (summed
 * in double, divided by the channel count, rounded once to float), so a
 * stereo file whose channels are equal gives exactly that channel.
 *
 * Resampling is libsamplerate's SRC_SINC_BEST_QUALITY (band-limited sinc,
 * worst-case SNR 97 dB over 97 % of the band), chosen because its cost (about
 * 50x real time per core for 44.1 kHz stereo, measured) is small next to
 * the model's on every utterance it decodes; a file already at the target rate is not resampled, its samples
 * are bit-identical to libsndfile's float read. A resampled file has exactly
 * ceil(frames * target / rate) samples (libsamplerate's output, cut or
 * zero-padded by at most a few samples at the end to that length, which is
 * the length torchaudio's resample gives too).
 *
 * Errors are ds_err codes with one-line messages that start with the path:
 * DS_EIO for a file that cannot be opened or read, DS_EFORMAT for one that
 * is not audio, is corrupt, holds no samples, is too short, has a
 * non-finite sample or an absurd sample rate (outside 1000..768000 Hz).
 * A WAV whose data chunk claims more bytes than the file holds is read up to
 * the end of the file, as libsndfile does (streamed WAVs carry placeholder
 * sizes); FLAC and Ogg files cut short or damaged are refused.
 *
 * The functions may run in several threads at once (libsndfile and
 * libsamplerate keep per-call state); only the libsndfile reason quoted when
 * a file cannot be opened comes from a process-wide slot, so two threads
 * failing at the same moment may swap those words. */
#ifndef DS_AUDIO_H
#define DS_AUDIO_H

enum {
    DS_AUDIO_RATE = 16000,          /* wav2vec2's rate */
    DS_AUDIO_MIN_RATE = 1000,
    DS_AUDIO_MAX_RATE = 768000,
};

typedef struct {
    long frames;       /* as the file header says (libsndfile's estimate for MP3) */
    int rate;
    int channels;
    char format[128];  /* libsndfile's names, e.g. "FLAC (Free Lossless Audio Codec), Signed 24 bit PCM" */
} ds_audio_info;

/* The header of path, without decoding the samples; the same open/format
 * errors as ds_audio_read (an empty or absurd-rate file is refused too). */
int ds_audio_probe(const char *path, ds_audio_info *info);

/* The number of samples ds_audio_read returns for a file of `frames` frames
 * at `rate` read at `target_rate`: frames itself when the rates agree, else
 * ceil(frames * target_rate / rate). */
long ds_audio_resampled_length(long frames, int rate, int target_rate);

/* Reads path as mono float32 at target_rate (DS_AUDIO_RATE for wav2vec2)
 * into *samples (malloc'd, the caller frees) and *n. A file whose result
 * is shorter than min_samples (e.g. 400 = one wav2vec2 frame) is refused:
 * "FILE: 0.01 s of audio, need at least 0.025 s". On error *samples is NULL
 * and *n 0. */
int ds_audio_read(const char *path, int target_rate, long min_samples, float **samples, long *n);

/* Per-utterance zero mean, unit variance: x = (x - mean) / sqrt(var + eps)
 * with the biased variance, mean and variance accumulated in double. HF's
 * Wav2Vec2FeatureExtractor (do_normalize) uses eps 1e-7, which wav2vec2
 * checkpoints converted from HF expect (models/wav2vec2.c); fairseq's
 * `normalize: true` is F.layer_norm over the waveform, eps 1e-5. */
#define DS_AUDIO_NORM_EPS_HF 1e-7
#define DS_AUDIO_NORM_EPS_FAIRSEQ 1e-5
void ds_audio_normalize(float *x, long n, double eps);

#endif
