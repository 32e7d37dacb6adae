/*
 * startup.c - Cortex-M3 vector table and reset handler for the LM3S6965 (QEMU lm3s6965evb).
 *
 * Reset_Handler copies .data from flash, zeroes .bss and calls main(). Every exception without a
 * handler of its own lands in Default_Handler, which parks the core (a debugger or QEMU's monitor
 * shows where). The vector table holds the 16 system exceptions and the 43 LM3S6965 interrupts.
 */
#include <stdint.h>

extern uint32_t _sidata, _sdata, _edata, _sbss, _ebss, _estack;
extern int main(void);

void Reset_Handler(void);
void Default_Handler(void);
void SysTick_Handler(void);   /* board.c */
void UART0_IRQHandler(void);  /* board.c */
void Timer0A_IRQHandler(void); /* board.c */

void Reset_Handler(void)
{
    const uint32_t *src = &_sidata;
    uint32_t *dst = &_sdata;
    while (dst < &_edata) {
        *dst++ = *src++;
    }
    for (dst = &_sbss; dst < &_ebss; ++dst) {
        *dst = 0u;
    }
    (void)main();
    for (;;) {
        __asm__ volatile("wfi");
    }
}

void Default_Handler(void)
{
    for (;;) {
    }
}

#define N_IRQS 43u

typedef void (*vector_t)(void);

__attribute__((section(".isr_vector"), used)) static const vector_t vectors[16u + N_IRQS] = {
    (vector_t)(uintptr_t)&_estack, /* initial main stack pointer */
    Reset_Handler,
    Default_Handler, /* NMI */
    Default_Handler, /* HardFault */
    Default_Handler, /* MemManage */
    Default_Handler, /* BusFault */
    Default_Handler, /* UsageFault */
    0, 0, 0, 0,      /* reserved */
    Default_Handler, /* SVCall */
    Default_Handler, /* DebugMonitor */
    0,               /* reserved */
    Default_Handler, /* PendSV */
    SysTick_Handler,
    /* external interrupts 0..42 */
    Default_Handler, /* 0 GPIO A */
    Default_Handler, /* 1 GPIO B */
    Default_Handler, /* 2 GPIO C */
    Default_Handler, /* 3 GPIO D */
    Default_Handler, /* 4 GPIO E */
    UART0_IRQHandler, /* 5 UART0 */
    Default_Handler, Default_Handler, Default_Handler, Default_Handler, /* 6..9 */
    Default_Handler, Default_Handler, Default_Handler, Default_Handler, Default_Handler, /* 10..14 */
    Default_Handler, Default_Handler, Default_Handler, Default_Handler, /* 15..18 */
    Timer0A_IRQHandler, /* 19 Timer 0A */
    Default_Handler, Default_Handler, Default_Handler, Default_Handler, Default_Handler, /* 20..24 */
    Default_Handler, Default_Handler, Default_Handler, Default_Handler, Default_Handler, /* 25..29 */
    Default_Handler, Default_Handler, Default_Handler, Default_Handler, Default_Handler, /* 30..34 */
    Default_Handler, Default_Handler, Default_Handler, Default_Handler, Default_Handler, /* 35..39 */
    Default_Handler, Default_Handler, Default_Handler,                                   /* 40..42 */
};
