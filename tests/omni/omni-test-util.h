/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * What the omni element tests share: pipelines with probed sinks, the bus
 * read to EOS, the element's stats, a slowed-down engine, the engine asked
 * directly, the examples run, and the scratch directory.
 */
#ifndef __OMNI_TEST_UTIL_H__
#define __OMNI_TEST_UTIL_H__

#include <gst/gst.h>

#include "omnicore.h"

G_BEGIN_DECLS

/* What the bus told during one run. */
typedef struct {
  const gchar *msg_name;        /* element messages kept in msgs */
  const gchar *count_name;      /* element messages only counted; may be NULL */
  GPtrArray *msgs;              /* GstStructure copies of msg_name messages */
  guint n_counted;              /* count_name messages */
  guint n_warnings;
  gchar *warning;               /* every warning's message, one a line */
  gchar *error;                 /* the error that ended the run, or NULL */
  GstStructure *stats;          /* the element's stats at the end, or NULL */
} OmniTestBus;

/* Sets up @bus to keep the element messages named @msg_name and count
 * those named @count_name (may be NULL). */
void omni_test_bus_init (OmniTestBus *bus, const gchar *msg_name,
    const gchar *count_name);

/* Frees what @bus holds. */
void omni_test_bus_clear (OmniTestBus *bus);

/* Parses the pipeline @desc (failing the test when it does not parse) and
 * logs it. */
GstElement *omni_test_parse (const gchar *desc);

/* Adds @cb as a probe of @type on the sink pad of the element named @name
 * in @pipeline, when there is such an element. */
void omni_test_probe_sink (GstElement *pipeline, const gchar *name,
    GstPadProbeType type, GstPadProbeCallback cb, gpointer user_data);

/* Reads @pipeline's bus into @bus until EOS or an error; fails the test
 * when neither comes within @timeout. */
void omni_test_wait_eos (GstElement *pipeline, OmniTestBus *bus,
    GstClockTime timeout);

/* Stores (and logs) the "stats" of the element named @name in @bus. */
void omni_test_grab_stats (GstElement *pipeline, OmniTestBus *bus,
    const gchar *name);

/* Waits for EOS, grabs the stats of @name, stops and unrefs @pipeline. */
void omni_test_finish (GstElement *pipeline, OmniTestBus *bus,
    const gchar *name, GstClockTime timeout);

/* The guint64 stats field @field (the test fails without it). */
guint64 omni_test_stat_u64 (const OmniTestBus *bus, const gchar *field);

/* A link to @model named @name in @dir: a model path of its own, so a
 * separate engine that omni_test_start_slow can slow down. */
gchar *omni_test_slow_model (const gchar *dir, const gchar *model,
    const gchar *name);

/* Starts @pipeline with OMNI_DEBUG_STEP_DELAY_MS=@delay_ms set while its
 * engines load (to PAUSED), then plays it. */
void omni_test_start_slow (GstElement *pipeline, guint delay_ms);

/* Runs @req (taken) to its end on the engine of @model (@device, NULL for
 * the default) without GStreamer; returns the final text, its status in
 * @status. */
gchar *omni_test_engine_text (const gchar *model, const gchar *device,
    OmniRequest *req, OmniResultStatus *status);

/* Runs @argv (a script or program); fails the test with its stderr when
 * it fails, returns its stdout. */
gchar *omni_test_run_example (gchar **argv);

/* Removes @dir and everything below it (scratch files, model links). */
void omni_test_remove_dir (const gchar *dir);

G_END_DECLS

#endif /* __OMNI_TEST_UTIL_H__ */
