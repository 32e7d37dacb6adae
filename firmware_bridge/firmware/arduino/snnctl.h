/*
 * snnctl.h - the snnctl Arduino library: the integer SNN core (snn.h) and the serial-protocol device
 * (snn_device.h, docs/protocol.md), and the board layer a sketch implements (board.h).
 *
 * A sketch provides the seven board_* functions with C linkage (extern "C" { ... }) and calls
 * snn_device_init() in setup() and snn_device_poll() in loop(); see examples/SnnDevice.
 */
#ifndef SNNCTL_ARDUINO_H
#define SNNCTL_ARDUINO_H

#include "snn.h"
#include "board.h"
#include "snn_dev_config.h" /* the limits (SNN_DEV_MAX_PAYLOAD ...), for the sketch's checks */
#include "snn_device.h"

#endif /* SNNCTL_ARDUINO_H */
