#!/bin/sh
# Descriptions of a video file as a JSON-lines log (one object per look,
# from omnivl's unsynced_src: seq, kind, text, pts, duration, frames...).
#   vl-jsonl.sh IN LOG.jsonl MODEL_DIR
# e.g. vl-jsonl.sh holiday.mp4 holiday.jsonl ~/models/Qwen3-VL-2B-Instruct
# Extra omnivl properties in OMNI_VL_ARGS, e.g. OMNI_VL_ARGS='scene-change=true'
set -eu
if [ $# -lt 3 ]; then
  echo "usage: $0 IN LOG.jsonl MODEL_DIR" >&2
  exit 2
fi
in=$1 log=$2 model=$3
eval "set -- ${OMNI_VL_ARGS:-}"
exec gst-launch-1.0 -q -e \
  filesrc location="$in" ! decodebin ! videoconvert ! \
  omnivl name=v model="$model" attach-meta=false "$@" ! fakesink sync=false \
  v.text_src ! fakesink sync=false async=false \
  v.unsynced_src ! filesink location="$log"
