#!/bin/sh
# Rebuilds testdata/speech/ from Debian's alsa-utils voice recordings
# (testdata/README.md "speech/"). Run from the repository root after `make`:
#   apt-get install alsa-utils && make && sh testdata/make_speech.sh
set -eu
SRC=/usr/share/sounds/alsa
OUT=testdata/speech
TREE=$OUT/LibriSpeech-mini/9001/1
PKGS="htslib sndfile samplerate jansson"
mkdir -p build "$TREE"
cc -O2 -std=gnu11 -Ilib -o build/make_speech testdata/make_speech.c build/libderfseq.a \
   $(pkg-config --libs $PKGS) -fopenmp -lm
# the 48 kHz original, losslessly as FLAC (decoded PCM identical to the WAV)
build/make_speech $SRC/Front_Center.wav $OUT/Front_Center_48k.flac 0
# 16 kHz, the rate wav2vec2 reads, in a LibriSpeech-shaped tree
build/make_speech $SRC/Front_Center.wav $TREE/9001-1-0000.flac
build/make_speech $SRC/Front_Left.wav   $TREE/9001-1-0001.flac
build/make_speech $SRC/Rear_Right.wav   $TREE/9001-1-0002.flac
# like LibriSpeech's own test-clean files: no newline after the last line
printf '9001-1-0000 FRONT CENTER\n9001-1-0001 FRONT LEFT\n9001-1-0002 REAR RIGHT' > $TREE/9001-1.trans.txt
