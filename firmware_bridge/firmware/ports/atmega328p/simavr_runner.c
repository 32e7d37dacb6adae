/*
 * simavr_runner.c - run the atmega328p firmware under libsimavr with USART0 on a pseudo-terminal.
 *
 *   simavr_runner FW.elf [-f HZ] [-b BAUD] [-e EEPROM_FILE [-c N]] [-v]
 *
 * Prints `URL /dev/pts/N` on stdout (what firmware_bridge.emulators expects), then runs until
 * SIGTERM/SIGINT or until the firmware crashes (exit 1, message on stderr).
 *
 * Why not simavr's own uart_pty part: it feeds the AVR only when the firmware polls UCSR0A with an
 * empty input FIFO (its XON signal), which an interrupt-driven receiver that sleeps never does,
 * and it moves bytes on a second thread. This bridge is single-threaded and models the line:
 *   - host -> AVR: bytes read from the pty master are queued and handed to the USART one per
 *     character time by a simavr cycle timer, as a real serial line delivers them; the firmware's
 *     RX interrupt sees them at the right moments. The character time is the one the firmware
 *     configured, read from the emulated registers before every byte: 10 bits (8N1) of
 *     (U2X0 ? 8 : 16) * (UBRR0 + 1) cycles - or simavr's own byte time if that is longer (simavr
 *     fixes it when UBRR0 is written, with U2X0 as it is then, and counts 11 bits for 8N1). So the
 *     runner never feeds faster than the emulated USART drains. What would be lost or garbled on a real line is reported on
 *     stderr once instead of silently: a firmware rate more than 5 % from the line rate BAUD (the
 *     stop bit's mid-bit sample drifts by 9.5 bit times * error; at 5 % that is half a bit), and a
 *     simavr byte time that disagrees with the registers (UBRR0 written before U2X0). Bytes are
 *     held while the receiver is off (RXEN0 = 0, e.g. before the firmware set up the USART).
 *     -v prints the setting on stderr once, after the first byte.
 *   - AVR -> host: every byte the USART sends is written to the pty master.
 *   - time: when the AVR sleeps (SLEEP with interrupts on) and nothing is queued, the runner waits
 *     in real time for the simulated sleep (select() on the pty with that timeout), so an idle
 *     device's millisecond clock follows the wall clock (the protocol watchdog relies on it). While
 *     the AVR computes, simulation runs as fast as the host allows.
 *   - EEPROM (-e FILE): simavr keeps the EEPROM in memory only. With -e the runner loads FILE into
 *     it at start (if FILE exists) and writes the whole EEPROM back to FILE whenever it changed,
 *     checked before any byte goes out to the host and every 1024 instructions, so a reply the host
 *     received was sent after the EEPROM writes before it reached FILE: killing the runner then is a
 *     power cut that keeps what the chip had written (docs/protocol.md §9).
 *     -c N is the tests' power cut inside a write: once N EEPROM bytes have changed since start,
 *     the next changed byte is not kept - FILE gets the EEPROM as it was before that byte, and the
 *     runner exits with status 3. The port writes in address order (board.c board_nv_write), so
 *     the bytes one check finds changed, however many, are counted in address order too.
 * The runner keeps its own handle on the pty slave, in raw mode, so a client may close and reopen
 * the port without the master seeing a hang-up.
 */
#define _DEFAULT_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pty.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/select.h>
#include <termios.h>
#include <unistd.h>

#include <simavr/avr_eeprom.h>
#include <simavr/avr_uart.h>
#include <simavr/sim_avr.h>
#include <simavr/sim_elf.h>
#include <simavr/sim_io.h>
#include <simavr/sim_irq.h>
#include <simavr/sim_cycle_timers.h>
#include <simavr/sim_time.h>

#define RXQ 8192u

static volatile sig_atomic_t g_stop;
static int g_master = -1;
static avr_irq_t *g_uart_in;
static uint8_t g_rxq[RXQ];
static size_t g_rx_head, g_rx_tail; /* queued host bytes: [tail, head) */
static int g_inject_armed;
static unsigned long g_line_baud = 115200ul; /* -b: the rate the host side of the line runs at */
static int g_verbose;             /* -v */
static int g_warned_rate, g_warned_order, g_reported;
static uint8_t g_txbuf[4096];
static size_t g_tx_len;
static avr_t *g_avr;
static int g_ee_fd = -1;          /* -e FILE, -1 if none */
static uint8_t g_ee_saved[1024];  /* the EEPROM as FILE holds it (ATmega328P: 1 KB) */
static long g_ee_cut = -1;        /* -c N: changed EEPROM bytes still kept before the cut, -1 = no cut */

static void on_signal(int sig)
{
    (void)sig;
    g_stop = 1;
}

/* -e: write the EEPROM to FILE if it changed since the last save. */
static void ee_save(void)
{
    uint8_t now[sizeof g_ee_saved];
    avr_eeprom_desc_t d;
    if (g_ee_fd < 0) {
        return;
    }
    d.ee = now;
    d.offset = 0;
    d.size = sizeof now;
    /* libsimavr's EEPROM ioctls answer -1 when they worked and -2 for a bad argument */
    if (avr_ioctl(g_avr, AVR_IOCTL_EEPROM_GET, &d) == -2 || memcmp(now, g_ee_saved, sizeof now) == 0) {
        return;
    }
    if (g_ee_cut >= 0) {
        size_t k;
        for (k = 0; k < sizeof now; k++) {
            if (now[k] == g_ee_saved[k]) {
                continue;
            }
            if (g_ee_cut == 0) { /* the power fails before byte k: the rest is as it was */
                memcpy(now + k, g_ee_saved + k, sizeof now - k);
                if (pwrite(g_ee_fd, now, sizeof now, 0) != (ssize_t)sizeof now) {
                    _exit(1);
                }
                _exit(3);
            }
            g_ee_cut--;
        }
    }
    if (pwrite(g_ee_fd, now, sizeof now, 0) == (ssize_t)sizeof now) {
        memcpy(g_ee_saved, now, sizeof now);
    }
}

/* -e: open FILE and load it into the EEPROM (a missing or short file: the erased EEPROM, 0xFF). */
static int ee_open(const char *path)
{
    avr_eeprom_desc_t d;
    ssize_t n;
    g_ee_fd = open(path, O_RDWR | O_CREAT, 0644);
    if (g_ee_fd < 0) {
        fprintf(stderr, "simavr_runner: -e %s: %s\n", path, strerror(errno));
        return -1;
    }
    memset(g_ee_saved, 0xFF, sizeof g_ee_saved);
    n = pread(g_ee_fd, g_ee_saved, sizeof g_ee_saved, 0);
    if (n < (ssize_t)sizeof g_ee_saved) {
        memset(g_ee_saved + (n > 0 ? n : 0), 0xFF, sizeof g_ee_saved - (size_t)(n > 0 ? n : 0));
    }
    d.ee = g_ee_saved;
    d.offset = 0;
    d.size = sizeof g_ee_saved;
    if (avr_ioctl(g_avr, AVR_IOCTL_EEPROM_SET, &d) == -2) { /* -1 is its "done" (see ee_save) */
        fprintf(stderr, "simavr_runner: -e %s: libsimavr refused to load the EEPROM\n", path);
        return -1;
    }
    return 0;
}

static void tx_flush(void)
{
    size_t off = 0;
    ee_save(); /* before the host can see a reply, the EEPROM it implies is in FILE */
    while (off < g_tx_len) {
        ssize_t n = write(g_master, g_txbuf + off, g_tx_len - off);
        if (n > 0) {
            off += (size_t)n;
        } else if (n < 0 && errno == EINTR) {
            continue;
        } else {
            break; /* nobody reading (EAGAIN) or gone: the bytes are lost, as on a real line */
        }
    }
    g_tx_len = 0;
}

static void on_uart_out(avr_irq_t *irq, uint32_t value, void *param)
{
    (void)irq;
    (void)param;
    g_txbuf[g_tx_len++] = (uint8_t)value;
    if (g_tx_len == sizeof g_txbuf) {
        tx_flush();
    }
}

/* ATmega328P USART0 registers (data-space addresses, datasheet §20.11) and the bits used here */
#define REG_UCSR0A 0xC0u
#define REG_UCSR0B 0xC1u
#define REG_UBRR0L 0xC4u
#define REG_UBRR0H 0xC5u
#define BIT_U2X0 0x02u  /* UCSR0A bit 1: 8 clocks per bit instead of 16 */
#define BIT_RXEN0 0x10u /* UCSR0B bit 4: receiver on */

/* simavr's USART0 module (its byte time), found once by walking the I/O modules */
static avr_uart_t *uart0(avr_t *avr)
{
    static avr_uart_t *found;
    avr_io_t *io;
    for (io = avr->io_port; io != NULL && found == NULL; io = io->next) {
        if (io->kind != NULL && strcmp(io->kind, "uart") == 0 && ((avr_uart_t *)io)->name == '0') {
            found = (avr_uart_t *)io;
        }
    }
    return found;
}

/* One character time in cycles as the firmware configured USART0 (8N1: 10 bits), never shorter
 * than simavr's own byte time; reports a rate a real line would not carry, once. */
static avr_cycle_count_t char_cycles(avr_t *avr)
{
    /* UBRR0 is 12 bits: UBRR0H bits 3..0 over UBRR0L */
    unsigned ubrr = ((unsigned)(avr->data[REG_UBRR0H] & 0x0Fu) << 8) | avr->data[REG_UBRR0L];
    unsigned per_bit = (avr->data[REG_UCSR0A] & BIT_U2X0) ? 8u : 16u; /* clocks per bit */
    avr_cycle_count_t ten_bits = (avr_cycle_count_t)10u * per_bit * (ubrr + 1u), cycles = ten_bits;
    double baud = (double)avr->frequency / ((double)per_bit * (ubrr + 1u));
    double err = (baud - (double)g_line_baud) / (double)g_line_baud;
    avr_uart_t *u = uart0(avr);
    if (!g_warned_rate && (err > 0.05 || err < -0.05)) {
        g_warned_rate = 1;
        fprintf(stderr,
                "simavr_runner: warning: the firmware set USART0 to %.0f baud (UBRR0=%u, U2X0=%u at %u Hz), "
                "%+.1f %% from the line's %lu baud (-b): a real line would garble every byte; "
                "fix the firmware's UBRR0/F_CPU or the runner's -b/-f\n",
                baud, ubrr, per_bit == 8u ? 1u : 0u, (unsigned)avr->frequency, err * 100.0, g_line_baud);
    }
    if (u != NULL && u->cycles_per_byte > cycles) {
        /* simavr's byte is 11 bit times (it counts a parity bit even for 8N1): ~1.1 x ours. Twice
         * the bit time (UBRR0 written while U2X0 was still 0) is a firmware defect worth naming. */
        if (!g_warned_order && u->cycles_per_byte * 2u > ten_bits * 3u) {
            g_warned_order = 1;
            fprintf(stderr,
                    "simavr_runner: warning: simavr drains USART0 at %llu cycles per byte, the registers say %llu: "
                    "the firmware wrote UBRR0 before setting U2X0 (set U2X0 first); pacing to the slower\n",
                    (unsigned long long)u->cycles_per_byte, (unsigned long long)ten_bits);
        }
        cycles = u->cycles_per_byte; /* never feed faster than the emulated USART takes bytes */
    }
    if (!g_reported && g_verbose) {
        g_reported = 1;
        fprintf(stderr, "simavr_runner: USART0 UBRR0=%u U2X0=%u: %.0f baud, 10 bits = %llu cycles; simavr's byte %llu; "
                "one byte every %llu cycles\n", ubrr, per_bit == 8u ? 1u : 0u, baud, (unsigned long long)ten_bits,
                (unsigned long long)(u != NULL ? u->cycles_per_byte : 0u), (unsigned long long)cycles);
    }
    return cycles;
}

static avr_cycle_count_t inject(avr_t *avr, avr_cycle_count_t when, void *param)
{
    (void)param;
    if (g_rx_tail == g_rx_head) {
        g_inject_armed = 0;
        return 0;
    }
    if ((avr->data[REG_UCSR0B] & BIT_RXEN0) == 0u) {
        return when + 1000u; /* receiver off: hold the byte (a real line would lose it), look again soon */
    }
    avr_raise_irq(g_uart_in, g_rxq[g_rx_tail % RXQ]);
    g_rx_tail++;
    if (g_rx_tail == g_rx_head) {
        g_inject_armed = 0;
        return 0;
    }
    return when + char_cycles(avr);
}

/* Read what the host sent (non-blocking) and make sure the injection timer runs. */
static void rx_pump(avr_t *avr)
{
    while (g_rx_head - g_rx_tail < RXQ) {
        size_t room = RXQ - (g_rx_head - g_rx_tail);
        size_t start = g_rx_head % RXQ;
        size_t chunk = RXQ - start < room ? RXQ - start : room;
        ssize_t n = read(g_master, g_rxq + start, chunk);
        if (n <= 0) {
            break;
        }
        g_rx_head += (size_t)n;
    }
    if (g_rx_tail != g_rx_head && !g_inject_armed) {
        g_inject_armed = 1;
        avr_cycle_timer_register(avr, 1, inject, NULL);
    }
}

/* The AVR sleeps for how_long cycles (until its next timer event). */
static void on_sleep(avr_t *avr, avr_cycle_count_t how_long)
{
    fd_set rd;
    struct timeval tv;
    uint64_t usec;
    tx_flush();
    if (g_rx_tail != g_rx_head || g_stop) {
        return; /* bytes are on their way in: no real-time wait */
    }
    usec = avr_cycles_to_usec(avr, how_long);
    if (usec > 20000u) {
        usec = 20000u;
    }
    FD_ZERO(&rd);
    FD_SET(g_master, &rd);
    tv.tv_sec = 0;
    tv.tv_usec = (suseconds_t)usec;
    if (select(g_master + 1, &rd, NULL, NULL, &tv) > 0) {
        rx_pump(avr);
    }
}

int main(int argc, char **argv)
{
    const char *elf = NULL, *ee_path = NULL, *mcu = "atmega328p";
    unsigned long hz = 16000000ul;
    elf_firmware_t fw;
    avr_t *avr;
    int slave = -1, i, stdout_fd, null_fd;
    char name[256];
    struct termios tio;
    uint32_t flags = 0;
    unsigned long counter = 0;

    for (i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-f") == 0 && i + 1 < argc) {
            hz = strtoul(argv[++i], NULL, 10);
        } else if (strcmp(argv[i], "-b") == 0 && i + 1 < argc) {
            g_line_baud = strtoul(argv[++i], NULL, 10);
        } else if (strcmp(argv[i], "-e") == 0 && i + 1 < argc) {
            ee_path = argv[++i];
        } else if (strcmp(argv[i], "-c") == 0 && i + 1 < argc) {
            g_ee_cut = strtol(argv[++i], NULL, 10);
        } else if (strcmp(argv[i], "-v") == 0) {
            g_verbose = 1;
        } else if (strcmp(argv[i], "-m") == 0 && i + 1 < argc) {
            mcu = argv[++i]; /* the same port built for another AVR, e.g. atmega2560 (Arduino Mega) */
        } else if (!elf) {
            elf = argv[i];
        } else {
            fprintf(stderr, "usage: %s FW.elf [-f HZ] [-b BAUD] [-e EEPROM_FILE [-c N]] [-m MCU] [-v]\n", argv[0]);
            return 2;
        }
    }
    if (!elf || (g_ee_cut >= 0 && ee_path == NULL)) {
        fprintf(stderr, "usage: %s FW.elf [-f HZ] [-b BAUD] [-e EEPROM_FILE [-c N]] [-m MCU] [-v]\n", argv[0]);
        return 2;
    }
    /* libsimavr chats on stdout while loading ("Loaded N .text ..."): discard that, stdout's first
     * line must be the URL */
    fflush(stdout);
    stdout_fd = dup(1);
    null_fd = open("/dev/null", O_WRONLY);
    if (null_fd >= 0) {
        dup2(null_fd, 1);
        close(null_fd);
    }
    memset(&fw, 0, sizeof fw);
    if (elf_read_firmware(elf, &fw) != 0) {
        fprintf(stderr, "simavr_runner: cannot read %s\n", elf);
        return 1;
    }
    avr = avr_make_mcu_by_name(mcu);
    if (!avr) {
        fprintf(stderr, "simavr_runner: libsimavr has no %s core\n", mcu);
        return 1;
    }
    avr_init(avr);
    avr->log = 1; /* errors only */
    fw.frequency = (uint32_t)hz;
    avr_load_firmware(avr, &fw);
    avr->frequency = (uint32_t)hz;
    avr->sleep = on_sleep;
    g_avr = avr;
    if (ee_path != NULL && ee_open(ee_path) != 0) {
        return 1;
    }
    fflush(stdout);
    dup2(stdout_fd, 1);
    close(stdout_fd);
    if (g_line_baud == 0ul) {
        fprintf(stderr, "simavr_runner: -b needs a baud rate > 0\n");
        return 2;
    }

    /* no console echo of the binary stream, no usleep() on status polls */
    avr_ioctl(avr, AVR_IOCTL_UART_GET_FLAGS('0'), &flags);
    flags &= ~(uint32_t)(AVR_UART_FLAG_STDIO | AVR_UART_FLAG_POOL_SLEEP);
    avr_ioctl(avr, AVR_IOCTL_UART_SET_FLAGS('0'), &flags);
    g_uart_in = avr_io_getirq(avr, AVR_IOCTL_UART_GETIRQ('0'), UART_IRQ_INPUT);
    avr_irq_register_notify(avr_io_getirq(avr, AVR_IOCTL_UART_GETIRQ('0'), UART_IRQ_OUTPUT), on_uart_out, NULL);

    if (openpty(&g_master, &slave, name, NULL, NULL) != 0) {
        perror("simavr_runner: openpty");
        return 1;
    }
    if (tcgetattr(slave, &tio) == 0) {
        cfmakeraw(&tio);
        tcsetattr(slave, TCSANOW, &tio);
    }
    fcntl(g_master, F_SETFL, fcntl(g_master, F_GETFL) | O_NONBLOCK);
    signal(SIGTERM, on_signal);
    signal(SIGINT, on_signal);
    signal(SIGPIPE, SIG_IGN);
    printf("URL %s\n", name);
    fflush(stdout);

    while (!g_stop) {
        int state = avr_run(avr);
        if (state == cpu_Done || state == cpu_Crashed) {
            fprintf(stderr, "simavr_runner: the AVR %s at pc 0x%04x, cycle %llu\n",
                    state == cpu_Done ? "stopped" : "crashed", (unsigned)avr->pc,
                    (unsigned long long)avr->cycle);
            tx_flush();
            return 1;
        }
        if ((++counter & 1023u) == 0u) {
            ee_save();
            rx_pump(avr);
            if (g_tx_len) {
                tx_flush();
            }
        }
    }
    tx_flush();
    close(slave);
    close(g_master);
    return 0;
}
