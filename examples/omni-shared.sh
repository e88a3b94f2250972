#!/bin/sh
# One Qwen3-Omni model (loaded once) describes both halves of a file:
# omnicaption captions its audio, omnivl describes its video; both print
# their results as JSON lines on stdout.
#   omni-shared.sh IN MODEL_DIR
# e.g. omni-shared.sh talk.mkv ~/models/Qwen3-Omni-30B-A3B-Instruct
# Extra properties in OMNI_CAPTION_ARGS and OMNI_VL_ARGS.
set -eu
if [ $# -lt 2 ]; then
  echo "usage: $0 IN MODEL_DIR" >&2
  exit 2
fi
in=$1 model=$2
vl_args=${OMNI_VL_ARGS:-}
eval "set -- ${OMNI_CAPTION_ARGS:-}"
eval exec gst-launch-1.0 -q -e \
  filesrc location="\"$in\"" ! decodebin name=d \
  d. ! queue ! audioconvert ! audioresample ! \
  omnicaption name=c task=caption model="\"$model\"" '"$@"' ! fakesink sync=false \
  c.text_src ! fakesink sync=false async=false \
  c.unsynced_src ! fdsink fd=1 \
  d. ! queue ! videoconvert ! \
  omnivl name=v model="\"$model\"" attach-meta=false "$vl_args" ! fakesink sync=false \
  v.text_src ! fakesink sync=false async=false \
  v.unsynced_src ! fdsink fd=1
