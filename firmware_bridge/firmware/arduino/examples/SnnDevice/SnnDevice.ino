/*
 * SnnDevice - serve the snnctl serial protocol (docs/protocol.md) on the board's USB serial port.
 *
 * Upload a network from the host with
 *     snnctl deploy net.snn --port /dev/ttyACM0
 * then step it with `snnctl device run` or firmware_bridge.device.Device. On a 2 KB board (Uno, Nano)
 * build the library with the network in flash instead (make_library.py --network net.snn): this
 * sketch is unchanged, the device then runs that network from power-up and takes no uploads. The network's outputs
 * arrive in board_outputs(): drive your actuators there (the example maps output 0 to the PWM of
 * pin 9 and, with the watchdog on, also receives the network's fail-safe codes there).
 *
 * The eleven board_* functions below are the whole board layer (board.h); they need C linkage.
 * The last four run the on-board loop (snnctl device start): a software timer on micros() and the
 * sensor hook, which here takes the samples the host sends in SENSOR frames - a robot reads its
 * own sensor in board_read_inputs instead.
 */
#include <snnctl.h>

/* A host keeps up to max_payload bytes of requests in flight (docs/protocol.md §2 Pipelining), and
 * Serial must hold them while the board steps: a smaller receive buffer drops bytes under load. */
#if defined(SERIAL_RX_BUFFER_SIZE) && SERIAL_RX_BUFFER_SIZE < SNN_DEV_MAX_PAYLOAD
#error "Serial's receive buffer (SERIAL_RX_BUFFER_SIZE) is smaller than SNN_DEV_MAX_PAYLOAD: lower SNN_DEV_MAX_PAYLOAD or raise SERIAL_RX_BUFFER_SIZE"
#endif

static const uint8_t kPwmPin = 9;
static uint32_t g_period_us; /* on-board loop period, 0 = stopped */
static uint32_t g_next_us;   /* micros() at the end of the current period */
static uint32_t g_periods;

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

int board_timer_start(uint32_t period_us)
{
    g_period_us = period_us;
    g_next_us = micros() + period_us;
    g_periods = 0;
    return 0;
}

void board_timer_stop(void)
{
    g_period_us = 0;
}

uint32_t board_timer_periods(void)
{
    /* signed difference: correct across the 71-minute wrap of micros() */
    while (g_period_us != 0 && (int32_t)(micros() - g_next_us) >= 0) {
        g_next_us += g_period_us;
        g_periods++;
    }
    return g_periods;
}

int board_read_inputs(int16_t *codes, uint16_t n)
{
    return snn_device_sensor_take(codes, n); /* a robot: read the sensor, convert to codes, return 1 */
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
