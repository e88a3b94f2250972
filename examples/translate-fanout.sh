#!/bin/sh
# One omnitranslate, two languages: the src pad gives LANG1 and the request
# pad src_0 LANG2, each written to its own .srt. Both languages are decoded
# together (batched) by the one engine.
#   translate-fanout.sh IN.srt MODEL_DIR [LANG1 [LANG2]]
# writes IN.LANG1.srt and IN.LANG2.srt next to IN.srt.
set -eu
if [ $# -lt 2 ]; then
  echo "usage: $0 IN.srt MODEL_DIR [LANG1 [LANG2]]" >&2
  exit 2
fi
in=$1 model=$2 lang1=${3:-de} lang2=${4:-fr}
base=${in%.srt}
exec gst-launch-1.0 -e \
  filesrc location="$in" ! subparse ! \
  omnitranslate name=t model="$model" target-language="$lang1" \
    src_0::language-code="$lang2" \
  t.src ! srtenc ! filesink location="$base.$lang1.srt" \
  t.src_0 ! srtenc ! filesink location="$base.$lang2.srt"
