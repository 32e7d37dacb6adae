/*
 * SnnDevice - serve the snnctl serial protocol (docs/protocol.md) on the board's USB serial port.
 *
 * Upload a network from the host with
 *     snnctl deploy net.snn --port /dev/ttyACM0
 * then step it with `snnctl device run` or firmware_bridge.device.Device. The network's outputs
 * arrive in board_outputs(): drive your actuators there (the example maps output 0 to the PWM of
 * pin 9 and, with the watchdog on, also receives the network's fail-safe codes there).
 *
 * The seven board_* functions below are the whole board layer (board.h); they need C linkage.
 */
#include <snnctl.h>

static const uint8_t kPwmPin = 9;

extern "C" {

void board_init(void)
{
    Serial.begin(115200);
    pinMode(kPwmPin, OUTPUT);
}

int board_uart_getc(uint8_t *byte)
{
    int c = Serial.read();
    if (c < 0) {
        return 0;
    }
    *byte = (uint8_t)c;
    return 1;
}

void board_uart_write(const uint8_t *buf, uint16_t len)
{
    Serial.write(buf, len);
}

uint32_t board_millis(void)
{
    return millis();
}

uint32_t board_cycles(void)
{
    return micros(); /* SNN_DEV_TICK_HZ = 1 MHz (snn_port_config.h) */
}

void board_outputs(const int16_t *codes, uint16_t n)
{
    if (n > 0) {
        /* int16 code -> 0..255 duty: codes are the network's quantised outputs */
        long duty = ((long)codes[0] + 32768L) >> 8;
        analogWrite(kPwmPin, (int)duty);
    }
}

void board_idle(void)
{
    /* nothing: loop() polls again at once (a low-power sketch may sleep until a UART interrupt) */
}

} /* extern "C" */

void setup()
{
    board_init();
    snn_device_init();
}

void loop()
{
    snn_device_poll();
    board_idle();
}
