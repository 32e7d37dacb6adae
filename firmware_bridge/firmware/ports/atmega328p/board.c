/*
 * board.c - board layer (docs/protocol.md §7, device/board.h) for the ATmega328P (Arduino Uno /
 * Nano class: 8-bit AVR, 2 KB RAM, 32 KB flash), at F_CPU = 16 MHz, on silicon or under simavr
 * (simavr_runner.c).
 *
 * USART0: 115200 8N1 with U2X0 (UBRR0 = 16, +2.1 % baud error as on every 16 MHz Arduino).
 * Receive is interrupt-driven (USART_RX_vect) into a ring of BOARD_RX_RING bytes; a byte that
 * finds the ring full is dropped and counted (g_rx_overruns) - the protocol's CRC then rejects
 * the frame and the host retries. Transmit is polled on UDRE0.
 *
 * Time. Timer0 in CTC mode at F_CPU / 64 / 250 = 1 kHz ticks board_millis. Timer1 runs free at
 * F_CPU (no prescaler); its overflow interrupt counts the upper 16 bits, so board_cycles() is a
 * 32-bit CPU-cycle counter (wraps every 268 s at 16 MHz) read race-free with interrupts off. The
 * cycles of the two timer interrupts that fall inside a measured interval are included (about
 * 0.2 % of a long STEP: ~40 cycles per millisecond and per 4.1 ms).
 *
 * board_idle sleeps in IDLE mode (timers and USART keep running) until the next interrupt: a
 * received byte or the 1 ms tick. `sei` followed by `sleep` is atomic on AVR (the instruction
 * after SEI always executes before an interrupt), so a byte cannot be slept through.
 *
 * Free RAM. board_init paints the gap between the end of .bss and the stack with a pattern;
 * board_free_ram() (HELLO's free_ram) counts the painted bytes the stack has not reached yet,
 * i.e. the stack headroom left at the deepest point reached so far.
 *
 * On-board loop timer (docs/protocol.md §8, with SNN_DEV_ONBOARD): the 1 kHz Timer0 interrupt also
 * counts down the period in whole milliseconds (1 .. 65535 ms; START with a period that is not a
 * whole number of milliseconds is refused). board_read_inputs takes the latest SENSOR frame (the
 * simavr board has no sensor; a robot's port reads its own here).
 */
#include <stdint.h>

#include <avr/eeprom.h>
#include <avr/interrupt.h>
#include <avr/io.h>
#include <avr/sleep.h>

#include "board.h"
#include "snn_device.h"
#include "snn_port_config.h"

#define BOARD_BAUD 115200UL
#define BOARD_UBRR ((F_CPU / (8UL * BOARD_BAUD)) - 1UL) /* U2X0 = 1: 16 at 16 MHz */

#ifndef BOARD_RX_RING
#define BOARD_RX_RING 64u /* power of two <= 128 */
#endif
#if (BOARD_RX_RING & (BOARD_RX_RING - 1u)) != 0 || BOARD_RX_RING > 128u
#error "BOARD_RX_RING must be a power of two <= 128"
#endif
#if BOARD_RX_RING < SNN_DEV_MAX_PAYLOAD
/* docs/protocol.md §2 Pipelining: a host may have max_payload bytes in flight while a request runs */
#error "BOARD_RX_RING must hold max_payload bytes (the host's pipelining budget)"
#endif

#define PAINT 0xC5u

static volatile uint8_t g_rx_ring[BOARD_RX_RING];
static volatile uint8_t g_rx_head; /* written by the ISR */
static volatile uint8_t g_rx_tail; /* written by the main loop */
static volatile uint16_t g_rx_overruns;
static volatile uint32_t g_millis;
static volatile uint16_t g_t1_overflows;
static int16_t g_outputs[4]; /* last actuator codes (a real board would drive PWM here) */
static uint16_t g_n_outputs;
#if SNN_DEV_ONBOARD
static volatile uint16_t g_period_ms; /* 0: timer stopped */
static volatile uint16_t g_ms_left;   /* milliseconds to the end of the current period */
static volatile uint32_t g_periods;
#endif

extern uint8_t __heap_start; /* end of .bss (avr-libc linker script) */

#if defined(USART0_RX_vect) /* ATmega2560 (Arduino Mega) names USART0's vector; the ATmega328P has one USART */
#define BOARD_RX_VECT USART0_RX_vect
#else
#define BOARD_RX_VECT USART_RX_vect
#endif
ISR(BOARD_RX_VECT)
{
    const uint8_t byte = UDR0;
    const uint8_t head = g_rx_head;
    if ((uint8_t)(head - g_rx_tail) >= BOARD_RX_RING) {
        g_rx_overruns++;
        return;
    }
    g_rx_ring[head & (BOARD_RX_RING - 1u)] = byte;
    g_rx_head = (uint8_t)(head + 1u);
}

ISR(TIMER0_COMPA_vect)
{
    g_millis++;
#if SNN_DEV_ONBOARD
    if (g_period_ms != 0u && --g_ms_left == 0u) {
        g_ms_left = g_period_ms;
        g_periods++;
    }
#endif
}

ISR(TIMER1_OVF_vect)
{
    g_t1_overflows++;
}

static void paint_stack(void)
{
    uint8_t *p = &__heap_start;
    uint8_t here;
    /* leave 16 bytes below this frame unpainted */
    while (p < &here - 16) {
        *p++ = PAINT;
    }
}

void board_init(void)
{
    cli();
    paint_stack();

    /* USART0: 115200 8N1, double speed, RX interrupt. U2X0 goes first: the divisor means "8 clocks
     * per bit" only with it set, and an emulator may fix the bit time when UBRR0 is written
     * (simavr does: with UBRR0 first it ran the port at half speed and dropped bytes of long
     * writes — issue 18). */
    UCSR0A = _BV(U2X0);
    UBRR0H = (uint8_t)(BOARD_UBRR >> 8);
    UBRR0L = (uint8_t)BOARD_UBRR;
    UCSR0C = _BV(UCSZ01) | _BV(UCSZ00);
    UCSR0B = _BV(RXEN0) | _BV(TXEN0) | _BV(RXCIE0);

    /* Timer0: CTC, F_CPU / 64 / 250 = 1 kHz */
    TCCR0A = _BV(WGM01);
    TCCR0B = _BV(CS01) | _BV(CS00);
    OCR0A = (uint8_t)(F_CPU / 64UL / 1000UL - 1UL);
    TIMSK0 = _BV(OCIE0A);

    /* Timer1: normal mode, F_CPU, overflow interrupt */
    TCCR1A = 0u;
    TCCR1B = _BV(CS10);
    TCNT1 = 0u;
    TIMSK1 = _BV(TOIE1);

    sei();
}

int board_uart_getc(uint8_t *byte)
{
    const uint8_t tail = g_rx_tail;
    if (tail == g_rx_head) {
        return 0;
    }
    *byte = g_rx_ring[tail & (BOARD_RX_RING - 1u)];
    g_rx_tail = (uint8_t)(tail + 1u);
    return 1;
}

void board_uart_write(const uint8_t *buf, uint16_t len)
{
    uint16_t i;
    for (i = 0u; i < len; ++i) {
        while ((UCSR0A & _BV(UDRE0)) == 0u) {
        }
        UDR0 = buf[i];
    }
}

uint32_t board_millis(void)
{
    uint32_t ms;
    const uint8_t sreg = SREG;
    cli();
    ms = g_millis;
    SREG = sreg;
    return ms;
}

uint32_t board_cycles(void)
{
    uint16_t lo, hi;
    const uint8_t sreg = SREG;
    cli();
    lo = TCNT1;
    hi = g_t1_overflows;
    if ((TIFR1 & _BV(TOV1)) != 0u && lo < 0x8000u) {
        hi++; /* wrapped after the last overflow interrupt ran, before (or just after) the read */
    }
    SREG = sreg;
    return ((uint32_t)hi << 16) | lo;
}

void board_outputs(const int16_t *codes, uint16_t n)
{
    uint16_t i;
    const uint16_t kept = n < 4u ? n : 4u;
    for (i = 0u; i < kept; ++i) {
        g_outputs[i] = codes[i];
    }
    g_n_outputs = n;
}

void board_idle(void)
{
    cli();
    if (g_rx_tail == g_rx_head) {
        set_sleep_mode(SLEEP_MODE_IDLE);
        sleep_enable();
        sei();
        sleep_cpu(); /* executed before any pending interrupt: no lost wake-up */
        sleep_disable();
    } else {
        sei();
    }
}

uint32_t board_free_ram(void)
{
    const uint8_t *p = &__heap_start;
    uint16_t n = 0u;
    while (*p == PAINT) {
        ++p;
        ++n;
    }
    return n;
}

#if SNN_DEV_ONBOARD
int board_timer_start(uint32_t period_us)
{
    const uint32_t ms = period_us / 1000UL;
    if (ms == 0UL || ms > 65535UL || ms * 1000UL != period_us) {
        return -1;
    }
    cli();
    g_period_ms = (uint16_t)ms;
    g_ms_left = (uint16_t)ms;
    g_periods = 0UL;
    sei();
    return 0;
}

void board_timer_stop(void)
{
    cli();
    g_period_ms = 0u;
    sei();
}

uint32_t board_timer_periods(void)
{
    uint32_t n;
    const uint8_t sreg = SREG;
    cli();
    n = g_periods;
    SREG = sreg;
    return n;
}

int board_read_inputs(int16_t *codes, uint16_t n)
{
    return snn_device_sensor_take(codes, n);
}
#endif

/* NV memory = the whole EEPROM (docs/protocol.md §9). eeprom_update_byte writes a byte only if it
 * changes, ~3.3 ms each, waiting for the previous one: when board_nv_write returns the last byte is
 * being written and the next EEPROM access waits for it. */
uint32_t board_nv_size(void)
{
    return (uint32_t)E2END + 1u;
}

int board_nv_read(uint32_t off, uint8_t *buf, uint32_t n)
{
    if (off + n > (uint32_t)E2END + 1u) {
        return -1;
    }
    eeprom_read_block(buf, (const void *)(uintptr_t)off, (size_t)n);
    return 0;
}

int board_nv_write(uint32_t off, const uint8_t *buf, uint32_t n)
{
    if (off + n > (uint32_t)E2END + 1u) {
        return -1;
    }
    /* byte by byte, in address order as board.h asks (a record's CRC, at its end, goes last):
       avr-libc's eeprom_update_block writes from the last byte down to the first */
    for (; n > 0u; n--) {
        eeprom_update_byte((uint8_t *)(uintptr_t)off++, *buf++);
    }
    return 0;
}
