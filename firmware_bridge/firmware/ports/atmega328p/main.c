/*
 * main.c - atmega328p firmware: the board layer (board.c) driving the portable device library.
 */
#include "board.h"
#include "snn_device.h"

int main(void)
{
    board_init();
    snn_device_init();
    for (;;) {
        snn_device_poll();
        board_idle();
    }
}
