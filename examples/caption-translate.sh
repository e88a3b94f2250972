#!/bin/sh
# Captions translated on the fly: a WAV file transcribed by omnicaption,
# each line translated by omnitranslate, written as .srt. When both name the
# same Qwen3-Omni snapshot, its weights are loaded once and shared.
#   caption-translate.sh IN.wav OUT.srt LANGUAGE ASR_MODEL_DIR [TEXT_MODEL_DIR]
# e.g. caption-translate.sh talk.wav talk.de.srt de ~/models/Qwen3-ASR-1.7B ~/models/Qwen3-4B
set -eu
if [ $# -lt 4 ]; then
  echo "usage: $0 IN.wav OUT.srt LANGUAGE ASR_MODEL_DIR [TEXT_MODEL_DIR]" >&2
  exit 2
fi
in=$1 out=$2 lang=$3 asr=$4 text=${5:-$4}
exec gst-launch-1.0 -e \
  filesrc location="$in" ! wavparse ! \
  omnicaption name=c model="$asr" ${OMNI_CAPTION_ARGS:-} ! fakesink sync=false \
  c.text_src ! omnitranslate model="$text" target-language="$lang" ${OMNI_TRANSLATE_ARGS:-} ! \
  srtenc ! filesink location="$out"
