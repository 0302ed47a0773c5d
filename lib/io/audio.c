/* Audio file -> float32 mono at the model's rate, through libsndfile
 * (decoding) and libsamplerate (resampling); see audio.h for the contract. */
#include "io/audio.h"

#include "core/error.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <samplerate.h>
#include <sndfile.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define AUDIO_CHUNK 4096              /* frames decoded per sf_readf_float call */
#define AUDIO_CONVERTER SRC_SINC_BEST_QUALITY

/* libsndfile's one-line text for an error number, without its final '.'. */
static const char *sf_msg(int code, char *buf, size_t size)
{
    const char *m = sf_error_number(code);
    if (!strncmp(m, "Error : ", 8)) m += 8;
    snprintf(buf, size, "%s", m);
    size_t l = strlen(buf);
    while (l && (buf[l - 1] == '.' || buf[l - 1] == '\n' || buf[l - 1] == ' ')) buf[--l] = 0;
    return buf;
}

/* Opens path for reading. The file is opened with open(2) first, so a
 * missing or unreadable file (DS_EIO, strerror) is told apart from one
 * libsndfile cannot make sense of (DS_EFORMAT, libsndfile's reason). */
static int audio_open(const char *path, SNDFILE **sf, SF_INFO *info)
{
    *sf = NULL;
    int fd = open(path, O_RDONLY);
    if (fd < 0) return ds_err_errno(DS_EIO, "%s: cannot open", path);
    struct stat st;
    if (fstat(fd, &st) != 0) { close(fd); return ds_err_errno(DS_EIO, "%s: cannot stat", path); }
    if (S_ISDIR(st.st_mode)) { close(fd); return ds_err(DS_EIO, "%s: is a directory, not an audio file", path); }
    if (S_ISREG(st.st_mode) && st.st_size == 0) { close(fd); return ds_err(DS_EFORMAT, "%s: empty file (0 bytes), not audio", path); }
    memset(info, 0, sizeof *info);
    *sf = sf_open_fd(fd, SFM_READ, info, 1);
    if (!*sf) {
        char buf[256];
        int code = sf_error(NULL);
        close(fd);
        if (code == SF_ERR_UNRECOGNISED_FORMAT)
            return ds_err(DS_EFORMAT, "%s: not an audio file libsndfile can read (%s)", path, sf_msg(code, buf, sizeof buf));
        return ds_err(DS_EFORMAT, "%s: corrupt or unsupported audio (%s)", path, sf_msg(code, buf, sizeof buf));
    }
    if (info->samplerate < DS_AUDIO_MIN_RATE || info->samplerate > DS_AUDIO_MAX_RATE) {
        int rate = info->samplerate;
        sf_close(*sf);
        *sf = NULL;
        return ds_err(DS_EFORMAT, "%s: sample rate %d Hz is outside %d..%d Hz", path, rate, DS_AUDIO_MIN_RATE,
                      DS_AUDIO_MAX_RATE);
    }
    if (info->channels < 1) {
        sf_close(*sf);
        *sf = NULL;
        return ds_err(DS_EFORMAT, "%s: %d channels", path, info->channels);
    }
    if (info->frames == 0) {
        sf_close(*sf);
        *sf = NULL;
        return ds_err(DS_EFORMAT, "%s: no audio samples (0 frames)", path);
    }
    return 0;
}

static void format_name(int format, char *out, size_t size)
{
    SF_FORMAT_INFO major = {.format = format & SF_FORMAT_TYPEMASK}, sub = {.format = format & SF_FORMAT_SUBMASK};
    int ok1 = sf_command(NULL, SFC_GET_FORMAT_INFO, &major, sizeof major) == 0;
    int ok2 = sf_command(NULL, SFC_GET_FORMAT_INFO, &sub, sizeof sub) == 0;
    snprintf(out, size, "%s, %s", ok1 ? major.name : "unknown format", ok2 ? sub.name : "unknown encoding");
}

int ds_audio_probe(const char *path, ds_audio_info *info)
{
    memset(info, 0, sizeof *info);
    SNDFILE *sf;
    SF_INFO si;
    int e = audio_open(path, &sf, &si);
    if (e) return e;
    info->frames = (long)si.frames;
    info->rate = si.samplerate;
    info->channels = si.channels;
    format_name(si.format, info->format, sizeof info->format);
    sf_close(sf);
    return 0;
}

long ds_audio_resampled_length(long frames, int rate, int target_rate)
{
    if (rate == target_rate || frames <= 0 || rate <= 0) return frames;
    return (long)(((__int128)frames * target_rate + rate - 1) / rate);
}

/* Appends nf frames of interleaved `in` to *out as their channel mean. */
static void mix_to_mono(float *out, const float *in, long nf, int ch)
{
    if (ch == 1) { memcpy(out, in, sizeof *out * (size_t)nf); return; }
    for (long f = 0; f < nf; f++) {
        double s = 0;
        for (int c = 0; c < ch; c++) s += in[f * ch + c];
        out[f] = (float)(s / ch);
    }
}

/* Decodes every frame of sf into a malloc'd mono buffer. The header's frame
 * count only sizes the first allocation (capped, since a corrupt header may
 * claim anything); the buffer grows as data arrives. */
static int decode_mono(const char *path, SNDFILE *sf, const SF_INFO *si, float **out, long *nout)
{
    *out = NULL;
    *nout = 0;
    long cap = si->frames > 0 && si->frames < (1L << 22) ? (long)si->frames : (1L << 22), n = 0;
    float *mono = malloc(sizeof *mono * (size_t)cap);
    float *chunk = malloc(sizeof *chunk * (size_t)AUDIO_CHUNK * (size_t)si->channels);
    if (!mono || !chunk) { free(mono); free(chunk); return ds_err(DS_ENOMEM, "%s: out of memory", path); }
    int r = 0, code = 0;
    for (;;) {
        sf_count_t got = sf_readf_float(sf, chunk, AUDIO_CHUNK);
        /* checked after every call: libsndfile clears it on the next one,
         * and its FLAC decoder goes on after a damaged frame */
        if ((code = sf_error(sf)) != 0 || got <= 0) break;
        if (n + got > INT_MAX) { r = ds_err(DS_EFORMAT, "%s: longer than %d samples", path, INT_MAX); break; }
        if (n + got > cap) {
            long nc = cap;
            while (nc < n + got) nc *= 2;
            float *m = realloc(mono, sizeof *m * (size_t)nc);
            if (!m) { r = ds_err(DS_ENOMEM, "%s: out of memory", path); break; }
            mono = m;
            cap = nc;
        }
        mix_to_mono(mono + n, chunk, (long)got, si->channels);
        n += (long)got;
    }
    free(chunk);
    if (!r && code) {
        char buf[256];
        r = ds_err(DS_EFORMAT, "%s: corrupt audio after %ld frames (%s)", path, n, sf_msg(code, buf, sizeof buf));
    }
    if (!r && n == 0) r = ds_err(DS_EFORMAT, "%s: no audio samples (0 frames)", path);
    for (long i = 0; !r && i < n; i++)
        if (!isfinite(mono[i])) r = ds_err(DS_EFORMAT, "%s: sample %ld is not a finite number", path, i);
    if (r) { free(mono); return r; }
    *out = mono;
    *nout = n;
    return 0;
}

/* x (n samples at rate) -> exactly ds_audio_resampled_length() samples at target. */
static int resample(const char *path, const float *x, long n, int rate, int target, float **out, long *nout)
{
    long want = ds_audio_resampled_length(n, rate, target);
    long room = want + 64;
    float *y = calloc((size_t)room, sizeof *y);
    if (!y) return ds_err(DS_ENOMEM, "%s: out of memory", path);
    SRC_DATA d = {.data_in = x, .data_out = y, .input_frames = n, .output_frames = room,
                  .src_ratio = (double)target / rate, .end_of_input = 1};
    int e = src_simple(&d, AUDIO_CONVERTER, 1);
    if (e) { free(y); return ds_err(DS_EINVAL, "%s: resampling %d -> %d Hz failed: %s", path, rate, target, src_strerror(e)); }
    for (long i = d.output_frames_gen; i < want; i++) y[i] = 0;   /* calloc'd; explicit for the reader */
    *out = y;
    *nout = want;
    return 0;
}

int ds_audio_read(const char *path, int target_rate, long min_samples, float **samples, long *n)
{
    *samples = NULL;
    *n = 0;
    if (target_rate < DS_AUDIO_MIN_RATE || target_rate > DS_AUDIO_MAX_RATE)
        return ds_err(DS_EINVAL, "target sample rate %d Hz is outside %d..%d Hz", target_rate, DS_AUDIO_MIN_RATE,
                      DS_AUDIO_MAX_RATE);
    SNDFILE *sf;
    SF_INFO si;
    int e = audio_open(path, &sf, &si);
    if (e) return e;
    float *x = NULL;
    long nx = 0;
    e = decode_mono(path, sf, &si, &x, &nx);
    sf_close(sf);
    if (e) return e;
    if (si.samplerate != target_rate) {
        float *y = NULL;
        long ny = 0;
        e = resample(path, x, nx, si.samplerate, target_rate, &y, &ny);
        free(x);
        if (e) return e;
        x = y;
        nx = ny;
    }
    if (nx < min_samples) {
        free(x);
        return ds_err(DS_EFORMAT, "%s: %g s of audio, need at least %g s", path, (double)nx / target_rate,
                      (double)min_samples / target_rate);
    }
    *samples = x;
    *n = nx;
    return 0;
}

void ds_audio_normalize(float *x, long n, double eps)
{
    if (n <= 0) return;
    double s = 0;
    for (long i = 0; i < n; i++) s += x[i];
    double mean = s / (double)n, v = 0;
    for (long i = 0; i < n; i++) v += ((double)x[i] - mean) * ((double)x[i] - mean);
    double rstd = 1.0 / sqrt(v / (double)n + eps);
    for (long i = 0; i < n; i++) x[i] = (float)(((double)x[i] - mean) * rstd);
}
