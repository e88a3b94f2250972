#!/bin/sh
# Transcribes (or captions) a WAV file into subtitles: OUT.srt and OUT.vtt,
# one cue per line of text, timed like the speech.
#   caption-srt.sh IN.wav OUT MODEL_DIR
# e.g. caption-srt.sh talk.wav talk ~/models/Qwen3-ASR-1.7B
# Extra omnicaption properties can be given in OMNI_CAPTION_ARGS, e.g.
#   OMNI_CAPTION_ARGS='language-code=en max-chars-per-line=42'
#   OMNI_CAPTION_ARGS='task=caption'   (with a Qwen3-Omni Captioner)
set -eu
if [ $# -lt 3 ]; then
  echo "usage: $0 IN.wav OUT MODEL_DIR" >&2
  exit 2
fi
in=$1 out=$2 model=$3
eval "set -- ${OMNI_CAPTION_ARGS:-}"
exec gst-launch-1.0 -e \
  filesrc location="$in" ! wavparse ! \
  omnicaption name=c model="$model" "$@" ! fakesink sync=false \
  c.text_src ! tee name=t \
  t. ! queue ! srtenc ! filesink location="$out.srt" \
  t. ! queue ! webvttenc ! filesink location="$out.vtt"
