#!/bin/sh
# Translates an .srt subtitle file into another language, cue by cue: same
# number of cues, same times.
#   translate-srt.sh IN.srt OUT.srt LANGUAGE MODEL_DIR [SOURCE_LANGUAGE]
# e.g. translate-srt.sh talk.en.srt talk.de.srt de ~/models/Qwen3-4B en
# Extra omnitranslate properties can be given in OMNI_TRANSLATE_ARGS, e.g.
#   OMNI_TRANSLATE_ARGS='glossary=terms.tsv domain="sports commentary"'
set -eu
if [ $# -lt 4 ]; then
  echo "usage: $0 IN.srt OUT.srt LANGUAGE MODEL_DIR [SOURCE_LANGUAGE]" >&2
  exit 2
fi
in=$1 out=$2 lang=$3 model=$4 source=${5:-auto}
eval "set -- ${OMNI_TRANSLATE_ARGS:-}"
exec gst-launch-1.0 -e \
  filesrc location="$in" ! subparse ! \
  omnitranslate model="$model" source-language="$source" target-language="$lang" "$@" ! \
  srtenc ! filesink location="$out"
