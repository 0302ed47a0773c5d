/* Builds testdata/speech/ from the human voice recordings Debian's alsa-utils
 * ships in /usr/share/sounds/alsa/ (see testdata/README.md): 16 kHz 16-bit
 * mono FLAC through derfseq's own reader (lib/io/audio.c: libsamplerate
 * SRC_SINC_BEST_QUALITY), samples rounded to the nearest 16-bit value
 * (x * 32768, the inverse of libsndfile's read scaling, clipped; no dither).
 * Usage: make_speech IN.wav OUT.flac [RATE]   (RATE 0: keep the file's rate,
 * lossless). */
#include "core/error.h"
#include "io/audio.h"

#include <math.h>
#include <sndfile.h>
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv)
{
    if (argc < 3) { fprintf(stderr, "usage: make_speech IN OUT.flac [RATE]\n"); return 2; }
    int rate = argc > 3 ? atoi(argv[3]) : DS_AUDIO_RATE;
    ds_audio_info in;
    if (ds_audio_probe(argv[1], &in)) { fprintf(stderr, "%s\n", ds_errmsg()); return 1; }
    if (rate == 0) rate = in.rate;
    float *x;
    long n;
    if (ds_audio_read(argv[1], rate, 0, &x, &n)) { fprintf(stderr, "%s\n", ds_errmsg()); return 1; }
    short *s = malloc(sizeof *s * (size_t)n);
    for (long i = 0; i < n; i++) {
        double v = nearbyint((double)x[i] * 32768.0);
        s[i] = (short)(v > 32767 ? 32767 : v < -32768 ? -32768 : v);
    }
    SF_INFO si = {.samplerate = rate, .channels = 1, .format = SF_FORMAT_FLAC | SF_FORMAT_PCM_16};
    SNDFILE *sf = sf_open(argv[2], SFM_WRITE, &si);
    if (!sf) { fprintf(stderr, "%s: %s\n", argv[2], sf_strerror(NULL)); return 1; }
    sf_command(sf, SFC_SET_COMPRESSION_LEVEL, &(double){1.0}, sizeof(double));
    if (sf_writef_short(sf, s, n) != n) { fprintf(stderr, "%s: %s\n", argv[2], sf_strerror(sf)); return 1; }
    sf_close(sf);
    free(s);
    free(x);
    return 0;
}
