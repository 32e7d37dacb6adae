/*
 * board.c - board layer (docs/protocol.md §7, device/board.h) for the TI Stellaris LM3S6965
 * evaluation board, as emulated by `qemu-system-arm -M lm3s6965evb`.
 *
 * Clock. Nothing here touches the clock tree, so the core runs from the reset configuration. QEMU
 * derives the system clock from RCC as 200 MHz / (SYSDIV + 1); the reset value of RCC has
 * SYSDIV = 15, so SYSCLK = 12.5 MHz (an 80 ns period). Real silicon at reset runs from the 12 MHz
 * internal oscillator (+-30 %); BOARD_SYSCLK_HZ (snn_port_config.h) is the figure QEMU uses.
 *
 * Time. SysTick runs from the processor clock (CLKSOURCE = 1) with a reload of SYSCLK/1000, so its
 * interrupt ticks board_millis at 1 kHz. board_cycles() counts SysTick clock ticks:
 * ms * (SYSCLK/1000) + (reload - current value), read race-free (see there), i.e. a 32-bit counter
 * at SNN_DEV_TICK_HZ = 12.5 MHz that wraps every 343 s, minus 8 ticks for every SysTick handler
 * that has run. Under `-icount shift=7` QEMU's virtual clock advances exactly 128 ns per guest
 * instruction (1.6 ticks) and nothing for exception entry/return; the handler is 5 assembly
 * instructions = 640 ns = 8 ticks, so leaving them out makes a difference of board_cycles over code
 * that does not sleep a pure function of the instructions it executed, whatever number of
 * millisecond ticks happen to fall inside it, up to +-1 tick of quantisation (the interval starts
 * at an arbitrary phase of the 80 ns tick). UART interrupts inside the interval still count (the
 * host waits for each reply, so there are none during a STEP). While the core sleeps (WFI) QEMU
 * lets virtual time follow real time, so board_millis stays a real millisecond clock for the
 * watchdog. On silicon or without icount the 8-tick correction is merely a 0.06 % error.
 *
 * UART0 (PL011 at 0x4000C000, IRQ 5). 8N1, FIFOs on. Receive is interrupt-driven into a ring of
 * BOARD_RX_RING bytes. QEMU raises the RX interrupt only when the FIFO goes from empty to
 * non-empty, so (a) the handler clears the interrupt *before* draining, (b) board_uart_getc also
 * polls the FIFO whenever the ring is empty, and (c) board_idle looks at the FIFO and the ring with
 * interrupts disabled before WFI. When the ring is full the handler stops and masks the receive
 * interrupt (the bytes stay in the FIFO and QEMU holds further input back), and board_uart_getc
 * unmasks it once the FIFO has been drained into the freed space: the ring never overflows.
 * Transmit is blocking on the TX FIFO.
 *
 * On-board loop timer (docs/protocol.md §8): general-purpose Timer 0 in 32-bit periodic mode
 * (GPTM CFG = 0, TAMR = 2) counting SYSCLK from TAILR = period * 12.5 - 1 down to 0; its time-out
 * interrupt (IRQ 19) counts whole periods. QEMU emulates the GPTM on the same virtual clock as the
 * CPU (it counts TAILR ticks per period, one 80 ns tick fewer than silicon's TAILR + 1). Periods of
 * 100 us .. 171 s. board_read_inputs takes the latest SENSOR frame: the emulated board has no
 * sensor of its own. A timer interrupt inside an on-board step is included in its step time.
 */
#include <stdint.h>

#include "board.h"
#include "snn_device.h"
#include "snn_port_config.h"

#define REG32(addr) (*(volatile uint32_t *)(uintptr_t)(addr))

/* system control */
#define SYSCTL_RCGC1 REG32(0x400FE104u) /* bit 0: UART0 */
#define SYSCTL_RCGC2 REG32(0x400FE108u) /* bit 0: GPIO port A */
/* SYSCTL_RCGC1 bit 16: general-purpose timer 0 */

/* general-purpose timer 0 (GPTM) */
#define TIMER0_BASE 0x40030000u
#define TIMER0_CFG REG32(TIMER0_BASE + 0x000u)
#define TIMER0_TAMR REG32(TIMER0_BASE + 0x004u)
#define TIMER0_CTL REG32(TIMER0_BASE + 0x00Cu)
#define TIMER0_IMR REG32(TIMER0_BASE + 0x018u)
#define TIMER0_ICR REG32(TIMER0_BASE + 0x024u)
#define TIMER0_TAILR REG32(TIMER0_BASE + 0x028u)
#define TIMER_TATO (1u << 0) /* timer A time-out (IMR / ICR bit) */
#define TIMER_TAEN (1u << 0) /* CTL: timer A enable */
#define TIMER0A_IRQ 19u
#define NVIC_ICER0 REG32(0xE000E180u)

/* GPIO port A: PA0 = U0Rx, PA1 = U0Tx (alternate function; ignored by QEMU, needed on silicon) */
#define GPIOA_AFSEL REG32(0x40004420u)
#define GPIOA_DEN REG32(0x4000451Cu)

/* UART0 (PL011) */
#define UART0_BASE 0x4000C000u
#define UART_DR REG32(UART0_BASE + 0x000u)
#define UART_FR REG32(UART0_BASE + 0x018u)
#define UART_IBRD REG32(UART0_BASE + 0x024u)
#define UART_FBRD REG32(UART0_BASE + 0x028u)
#define UART_LCRH REG32(UART0_BASE + 0x02Cu)
#define UART_CTL REG32(UART0_BASE + 0x030u)
#define UART_IFLS REG32(UART0_BASE + 0x034u)
#define UART_IM REG32(UART0_BASE + 0x038u)
#define UART_ICR REG32(UART0_BASE + 0x044u)

#define FR_RXFE (1u << 4)
#define FR_TXFF (1u << 5)
#define LCRH_FEN (1u << 4)
#define LCRH_WLEN8 (3u << 5)
#define CTL_UARTEN (1u << 0)
#define CTL_TXE (1u << 8)
#define CTL_RXE (1u << 9)
#define INT_RX (1u << 4)
#define INT_RT (1u << 6)

/* Cortex-M3 core peripherals */
#define SYST_CSR REG32(0xE000E010u)
#define SYST_RVR REG32(0xE000E014u)
#define SYST_CVR REG32(0xE000E018u)
#define NVIC_ISER0 REG32(0xE000E100u)
#define SCB_ICSR REG32(0xE000ED04u)
#define ICSR_PENDSTSET (1u << 26)

#define UART0_IRQ 5u

#define TICKS_PER_MS (BOARD_SYSCLK_HZ / 1000u)
/* SysTick ticks one SysTick handler takes under `-icount shift=7`: 5 instructions x 128 ns / 80 ns.
 * QEMU counts no time for exception entry and return. */
#define SYSTICK_HANDLER_TICKS 8u
#define BOARD_BAUD 115200u
/* baud divisor in 1/64 units, rounded: SYSCLK / (16 * baud) * 64 */
#define UART_BRD64 ((BOARD_SYSCLK_HZ * 8u / BOARD_BAUD + 1u) / 2u)

#ifndef BOARD_RX_RING
#define BOARD_RX_RING 512u /* power of two */
#endif
#if (BOARD_RX_RING & (BOARD_RX_RING - 1u)) != 0 || BOARD_RX_RING > 32768u
#error "BOARD_RX_RING must be a power of two <= 32768"
#endif

volatile uint32_t g_millis; /* not static: SysTick_Handler (assembly) refers to it */
static volatile uint8_t g_rx_ring[BOARD_RX_RING];
static volatile uint16_t g_rx_head;  /* written with interrupts off or by the UART handler */
static volatile uint16_t g_rx_tail;  /* written by the main loop only */
static volatile uint8_t g_rx_masked; /* receive interrupt masked because the ring was full */
static int16_t g_outputs[16];        /* last actuator codes (a real board would drive PWM here) */
static volatile uint16_t g_n_outputs;
static volatile uint32_t g_periods; /* on-board loop periods since board_timer_start */

static inline uint32_t irq_save(void)
{
    uint32_t primask;
    __asm__ volatile("mrs %0, primask\n\tcpsid i" : "=r"(primask) : : "memory");
    return primask;
}

static inline void irq_restore(uint32_t primask)
{
    __asm__ volatile("msr primask, %0" : : "r"(primask) : "memory");
}

/* Move bytes from the RX FIFO into the ring while it has room. Call from the UART handler or with
 * interrupts disabled. Returns 1 if the FIFO is empty afterwards, 0 if the ring filled up first. */
static int rx_drain(void)
{
    uint16_t head = g_rx_head;
    const uint16_t tail = g_rx_tail;
    while ((UART_FR & FR_RXFE) == 0u) {
        if ((uint16_t)(head - tail) >= BOARD_RX_RING) {
            return 0;
        }
        g_rx_ring[head & (BOARD_RX_RING - 1u)] = (uint8_t)UART_DR; /* bits 8..11 are error flags */
        ++head;
        g_rx_head = head;
    }
    return 1;
}

void UART0_IRQHandler(void)
{
    /* clear first: a byte that arrives while draining then raises the interrupt again */
    UART_ICR = INT_RX | INT_RT;
    if (!rx_drain()) {
        UART_IM = 0u; /* ring full: leave the rest in the FIFO until the main loop makes room */
        g_rx_masked = 1u;
    }
}

/* Exactly SYSTICK_HANDLER_INSNS instructions (written in assembly so the compiler cannot change
 * the count): g_millis += 1. */
#define SYSTICK_HANDLER_INSNS 5u
__attribute__((naked)) void SysTick_Handler(void)
{
    __asm__ volatile(
        "ldr r0, =g_millis\n\t"
        "ldr r1, [r0]\n\t"
        "adds r1, r1, #1\n\t"
        "str r1, [r0]\n\t"
        "bx lr\n\t"
        ".ltorg\n\t");
}

void Timer0A_IRQHandler(void)
{
    TIMER0_ICR = TIMER_TATO;
    g_periods++;
}

void board_init(void)
{
    SYSCTL_RCGC1 |= 1u | (1u << 16);
    SYSCTL_RCGC2 |= 1u;
    GPIOA_AFSEL |= 3u;
    GPIOA_DEN |= 3u;

    /* UART0: 115200 8N1 from SYSCLK (divisor 12.5e6 / (16 * 115200) = 6 + 50/64) */
    UART_CTL = 0u;
    UART_IBRD = UART_BRD64 >> 6;
    UART_FBRD = UART_BRD64 & 63u;
    UART_LCRH = LCRH_WLEN8 | LCRH_FEN;
    UART_IFLS = 0u; /* RX interrupt at 1/8 full on silicon; QEMU raises it on the first byte */
    UART_ICR = 0x7FFu;
    UART_IM = INT_RX | INT_RT;
    UART_CTL = CTL_UARTEN | CTL_TXE | CTL_RXE;
    NVIC_ISER0 = 1u << UART0_IRQ;

    /* SysTick: processor clock, 1 kHz interrupt */
    SYST_CSR = 0u;
    SYST_RVR = TICKS_PER_MS - 1u;
    SYST_CVR = 0u;
    SYST_CSR = (1u << 2) | (1u << 1) | (1u << 0); /* CLKSOURCE | TICKINT | ENABLE */

    __asm__ volatile("cpsie i" : : : "memory");
}

int board_uart_getc(uint8_t *byte)
{
    uint16_t tail = g_rx_tail;
    if (tail == g_rx_head) {
        /* ring empty: poll the FIFO too, in case an interrupt edge was missed */
        const uint32_t primask = irq_save();
        (void)rx_drain();
        irq_restore(primask);
        if (tail == g_rx_head) {
            return 0;
        }
    }
    *byte = g_rx_ring[tail & (BOARD_RX_RING - 1u)];
    g_rx_tail = (uint16_t)(tail + 1u);
    if (g_rx_masked) {
        const uint32_t primask = irq_save();
        if (rx_drain()) {
            /* FIFO empty again: unmask. A byte that arrived after the drain has already latched
             * the interrupt, which fires as soon as interrupts are enabled. */
            g_rx_masked = 0u;
            UART_IM = INT_RX | INT_RT;
        }
        irq_restore(primask);
    }
    return 1;
}

void board_uart_write(const uint8_t *buf, uint16_t len)
{
    uint16_t i;
    for (i = 0u; i < len; ++i) {
        while ((UART_FR & FR_TXFF) != 0u) {
        }
        UART_DR = buf[i];
    }
}

uint32_t board_millis(void)
{
    return g_millis;
}

uint32_t board_cycles(void)
{
    const uint32_t primask = irq_save();
    const uint32_t handled = g_millis; /* SysTick handlers run so far */
    uint32_t ms = handled;
    uint32_t val = SYST_CVR;
    if ((SCB_ICSR & ICSR_PENDSTSET) != 0u) {
        /* the counter wrapped and its interrupt has not run yet (it may have wrapped before or
         * after the read above): read again, now certainly after the wrap, and count the tick */
        val = SYST_CVR;
        ++ms;
    }
    irq_restore(primask);
    /* minus the time spent in the SysTick handlers that have run */
    return ms * TICKS_PER_MS + (TICKS_PER_MS - 1u - val) - handled * SYSTICK_HANDLER_TICKS;
}

void board_outputs(const int16_t *codes, uint16_t n)
{
    uint16_t i;
    const uint16_t kept = n < 16u ? n : 16u;
    for (i = 0u; i < kept; ++i) {
        g_outputs[i] = codes[i];
    }
    g_n_outputs = n;
}

void board_idle(void)
{
    /* With PRIMASK set, a pending interrupt still ends WFI but its handler runs only after cpsie,
     * so a byte or tick arriving between the check and WFI cannot be slept through. */
    __asm__ volatile("cpsid i" : : : "memory");
    if (g_rx_tail == g_rx_head && (UART_FR & FR_RXFE) != 0u) {
        __asm__ volatile("dsb\n\twfi" : : : "memory");
    }
    __asm__ volatile("cpsie i" : : : "memory");
}

int board_timer_start(uint32_t period_us)
{
    uint32_t ticks;
    if (period_us < 100u || period_us > 171000000u) {
        return -1; /* period * 25 must fit 32 bits */
    }
    ticks = (period_us * 25u + 1u) / 2u; /* period * 12.5 MHz, rounded */
    TIMER0_CTL = 0u;
    TIMER0_CFG = 0u;  /* 32-bit timer */
    TIMER0_TAMR = 2u; /* periodic */
    TIMER0_TAILR = ticks - 1u;
    TIMER0_ICR = TIMER_TATO;
    g_periods = 0u;
    TIMER0_IMR = TIMER_TATO;
    NVIC_ISER0 = 1u << TIMER0A_IRQ;
    TIMER0_CTL = TIMER_TAEN;
    return 0;
}

void board_timer_stop(void)
{
    TIMER0_CTL = 0u;
    TIMER0_IMR = 0u;
    NVIC_ICER0 = 1u << TIMER0A_IRQ;
    TIMER0_ICR = TIMER_TATO;
}

uint32_t board_timer_periods(void)
{
    return g_periods;
}

int board_read_inputs(int16_t *codes, uint16_t n)
{
    return snn_device_sensor_take(codes, n);
}

uint32_t board_free_ram(void)
{
    extern uint32_t _ebss;
    uint32_t sp;
    __asm__ volatile("mov %0, sp" : "=r"(sp));
    return sp - (uint32_t)(uintptr_t)&_ebss;
}
