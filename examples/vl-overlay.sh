#!/bin/sh
# Describes a video file (or the webcam) with omnivl and burns the latest
# description into the picture with textoverlay; shown in a window, or
# written to a Matroska file (raw video) with --out.
#   vl-overlay.sh IN|webcam MODEL_DIR [--out OUT.mkv]
# e.g. vl-overlay.sh webcam ~/models/Qwen3-VL-2B-Instruct
# Extra omnivl properties in OMNI_VL_ARGS, e.g.
#   OMNI_VL_ARGS='interval=5000 prompt="Is anyone at the door?"'
set -eu
if [ $# -lt 2 ]; then
  echo "usage: $0 IN|webcam MODEL_DIR [--out OUT.mkv]" >&2
  exit 2
fi
in=$1 model=$2 out=
if [ $# -ge 4 ] && [ "$3" = --out ]; then
  out=$4
fi
if [ "$in" = webcam ]; then
  src="v4l2src ! videoconvert"
else
  src="filesrc location=\"$in\" ! decodebin ! videoconvert"
fi
if [ -n "$out" ]; then
  sink="videoconvert ! matroskamux ! filesink location=\"$out\""
else
  sink="videoconvert ! autovideosink"
fi
eval "set -- ${OMNI_VL_ARGS:-}"
eval exec gst-launch-1.0 -e \
  "$src" ! omnivl name=v model="\"$model\"" '"$@"' ! \
  textoverlay name=o wait-text=false valignment=bottom ! "$sink" \
  v.text_src ! o.text_sink
