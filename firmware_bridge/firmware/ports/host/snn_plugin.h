/*
 * snn_plugin.h - the sensor/actuator plug-in of the host port (snndev --plugin 'CMD'): a child
 * process spoken to in lines over its stdin/stdout, so that a Linux edge board's on-board loop
 * reads a real sensor and drives a real actuator without a host (docs/firmware-boards.md §6).
 *
 *   device -> plug-in   "read P\n"           period P (the TELEMETRY frame's period) wants a sample
 *   plug-in -> device   "V1 V2 ... Vn\n"     n raw sensor values (decimal int32), or "none\n"
 *   device -> plug-in   "out V1 ... Vm\n"    raw actuator values, at every board_outputs call
 *
 * At most one `read` is outstanding: a reply that misses its budget is "no fresh sample" for that
 * period and every later one until it arrives, and is then discarded unused.
 */
#ifndef SNN_PLUGIN_H
#define SNN_PLUGIN_H

#include <stdint.h>

/* Start `command` with /bin/sh -c, its stdin and stdout on pipes (stderr shared with ours).
 * 0 ok; -1 after one line on stderr. */
int snn_plugin_start(const char *command);

/* 1 if a plug-in was started (it may have died since). */
int snn_plugin_active(void);

/* Ask for period `period`'s sample and wait at most `budget_ns` for it. 1: raw[0..n) holds the
 * plug-in's values; 0: no fresh sample (it said `none`, is late, still owes an older reply, sent a
 * malformed line, or has died); raw is then left alone. */
int snn_plugin_read(uint32_t period, int32_t *raw, uint16_t n, uint64_t budget_ns);

/* Hand the actuator values to the plug-in as one `out` line; dropped if its pipe is full. */
void snn_plugin_out(const int32_t *raw, uint16_t n);

/* EOF on the plug-in's stdin, then wait for it to exit (up to 2 s, then SIGTERM, then SIGKILL). */
void snn_plugin_close(void);

#endif /* SNN_PLUGIN_H */
