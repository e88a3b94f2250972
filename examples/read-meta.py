#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Attach GstOmniTextMeta to the buffers of a running pipeline and read them
# back from an appsink, all through GObject Introspection.
#
# Run from the build tree (BUILD is your meson build directory):
#
#   GI_TYPELIB_PATH=BUILD/gst/omnimeta LD_LIBRARY_PATH=BUILD/gst/omnimeta \
#       python3 examples/read-meta.py [TEXT]
#
# Once installed, plain `python3 read-meta.py` finds the typelib. The python
# must have PyGObject (`gi`); on Debian that is /usr/bin/python3 with
# python3-gi.
#
# Each buffer gets a transcript (TEXT, default "hello from gst-omni") and a
# French translation of it; the metas then cross audioconvert (they have no
# tags, so converters keep them) and are printed with their JSON form.

import sys

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstApp", "1.0")
gi.require_version("GstOmniMeta", "1.0")
from gi.repository import Gst, GstApp, GstOmniMeta  # noqa: E402

PIPELINE = ("audiotestsrc num-buffers=3 samplesperbuffer=4800 "
            "! audio/x-raw,format=S16LE,rate=48000,channels=1 "
            "! identity name=tag "
            "! audioconvert ! audio/x-raw,format=F32LE "
            "! appsink name=sink sync=false")
MODEL = "Qwen/Qwen3-Omni-30B-A3B-Captioner"


def on_buffer(pad, info, state):
    """Tag each buffer with a transcript and its translation."""
    buf = info.get_buffer()
    pts, duration = buf.pts, buf.duration
    segment = pad.get_sticky_event(Gst.EventType.SEGMENT, 0).parse_segment()
    running_time = segment.to_running_time(Gst.Format.TIME, pts)
    # Python holds a reference on every buffer it wraps, so a wrapped buffer
    # is never writable: let go of it, and attach through the probe info,
    # which makes the probe's buffer writable in place of the shared one.
    del buf
    seq = state["seq"]
    GstOmniMeta.pad_probe_info_add_omni_text_meta(
        info, GstOmniMeta.TextKind.TRANSCRIPT, state["text"], "en", None,
        pts, running_time, duration, True, seq, "speaker-1", MODEL)
    GstOmniMeta.pad_probe_info_add_omni_text_meta(
        info, GstOmniMeta.TextKind.TRANSLATION, "bonjour de gst-omni", "fr",
        "en", pts, running_time, duration, True, seq, None, None)
    state["seq"] += 1
    return Gst.PadProbeReturn.OK


def describe(meta):
    lang = meta.get_language() or "?"
    if meta.get_source_language():
        lang = "%s<-%s" % (lang, meta.get_source_language())
    return "%s [%s] %s seq=%d: %s" % (
        meta.get_kind().value_nick, lang,
        "final" if meta.is_final() else "partial", meta.get_seq(),
        meta.get_text())


def main():
    text = sys.argv[1] if len(sys.argv) > 1 else "hello from gst-omni"
    Gst.init(None)
    pipeline = Gst.parse_launch(PIPELINE)
    state = {"seq": 0, "text": text}
    tag = pipeline.get_by_name("tag").get_static_pad("src")
    tag.add_probe(Gst.PadProbeType.BUFFER, on_buffer, state)
    sink = pipeline.get_by_name("sink")

    pipeline.set_state(Gst.State.PLAYING)
    n_buffers = 0
    ok = True
    while True:
        sample = sink.try_pull_sample(10 * Gst.SECOND)
        if sample is None:
            break
        buf = sample.get_buffer()
        n = GstOmniMeta.buffer_get_n_omni_text_metas(buf)
        print("buffer %d pts %s: %d metas" % (n_buffers, buf.pts, n))
        ok = ok and n == 2
        for i in range(n):
            meta = GstOmniMeta.buffer_get_nth_omni_text_meta(buf, i)
            print("  " + describe(meta))
            print("  json: " + meta.to_json())
        n_buffers += 1

    error = pipeline.get_bus().pop_filtered(Gst.MessageType.ERROR)
    eos = sink.is_eos()
    pipeline.set_state(Gst.State.NULL)
    if error is not None:
        err, debug = error.parse_error()
        print("pipeline error: %s (%s)" % (err.message, debug), file=sys.stderr)
        return 1
    if not eos or n_buffers != 3 or not ok:
        print("expected 3 buffers with 2 metas each before EOS, got %d"
              % n_buffers, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
