#!/bin/sh
# Live captions burned into a picture: the microphone (autoaudiosrc) goes
# through omnicaption, its text over a test picture with textoverlay, the
# audio to the speakers, held back by the caption latency so picture, sound
# and words stay together.
#   caption-live.sh MODEL_DIR [omnicaption properties...]
# e.g. caption-live.sh ~/models/Qwen3-ASR-0.6B latency=3000
#      caption-live.sh ~/models/Qwen3-Omni-30B-A3B-Captioner task=caption
set -eu
if [ $# -lt 1 ]; then
  echo "usage: $0 MODEL_DIR [omnicaption properties...]" >&2
  exit 2
fi
model=$1
shift
exec gst-launch-1.0 \
  autoaudiosrc ! audioconvert ! \
  omnicaption name=c model="$model" "$@" ! queue ! audioconvert ! autoaudiosink \
  videotestsrc is-live=true pattern=smpte ! video/x-raw,width=1280,height=720 ! \
  textoverlay name=o valignment=bottom font-desc="Sans 28" wait-text=false ! \
  videoconvert ! autovideosink \
  c.text_src ! queue ! o.text_sink
