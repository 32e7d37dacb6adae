/*
 * snndev - the POSIX "virtual device": the device library (firmware/device) and the C99 core behind
 * a pseudo-terminal or a TCP socket, speaking docs/protocol.md like a board on a serial port.
 *
 *   snndev              serve on a new pty; prints "URL /dev/pts/N" on stdout
 *   snndev --tcp PORT   serve on 127.0.0.1:PORT, one client at a time (PORT 0: any free port);
 *                       prints "URL socket://127.0.0.1:PORT" on stdout (pyserial's socket:// URL)
 *   -v                  (before or after --tcp) log every board_outputs call on stderr as one line
 *                       "outputs c0 c1 ..." (the actuator hook: STEP results and watchdog fail-safe codes)
 *
 * The URL line is flushed as soon as the device is listening; the device then serves until
 * SIGTERM or SIGINT and exits 0. Diagnostics go to stderr. Exit status 2: usage or setup error.
 *
 * The pty's slave side is put in raw mode (no echo, no newline or flow-control rewriting) and the
 * device keeps one slave descriptor open itself, so a client may close and reopen the path at will.
 * In TCP mode a newly accepted client starts with a virtual 0x00 byte, flushing any partial frame
 * a previous client left behind. Bytes written while no client is connected are discarded.
 *
 * board layer: board_millis = CLOCK_MONOTONIC milliseconds; board_cycles = CLOCK_MONOTONIC
 * nanoseconds (INFO tick_hz = 1e9); board_outputs records the last codes; board_idle waits in
 * poll() for at most 1 ms.
 *
 * On-board loop (docs/protocol.md §8): the timer is CLOCK_MONOTONIC - board_timer_periods() is
 * (now - start) / period in whole periods, so a period boundary is noticed within board_idle's
 * 1 ms poll - and board_read_inputs takes the latest SENSOR frame (the emulated sensor channel:
 * this "board" has no sensor of its own).
 */
#define _DEFAULT_SOURCE 1
#define _XOPEN_SOURCE 700

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "board.h"
#include "snn_device.h"

static volatile sig_atomic_t g_stop;
static int g_fd = -1;        /* the byte stream: pty master or the connected TCP client, -1 if none */
static int g_slave_fd = -1;  /* pty mode: our own slave descriptor (keeps the pty alive) */
static int g_listen_fd = -1; /* TCP mode */
static uint8_t g_inbuf[4096];
static size_t g_in_len, g_in_pos;
static int16_t g_last_outputs[SNN_MAX_OUTPUTS];
static uint16_t g_n_outputs;
static int g_verbose;
static int g_stalled; /* output timed out: discard writes until the client sends again */
static uint64_t g_timer_start_ns, g_timer_period_ns; /* on-board loop timer; period 0 = stopped */

static void on_signal(int sig)
{
    (void)sig;
    g_stop = 1;
}

static uint64_t monotonic_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * UINT64_C(1000000000) + (uint64_t)ts.tv_nsec;
}

static void set_nonblocking(int fd)
{
    int fl = fcntl(fd, F_GETFL);
    if (fl >= 0) {
        fcntl(fd, F_SETFL, fl | O_NONBLOCK);
    }
}

static void drop_client(void)
{
    if (g_listen_fd >= 0 && g_fd >= 0) {
        close(g_fd);
        g_fd = -1;
        g_in_len = g_in_pos = 0;
    }
}

/* Accept a waiting TCP client (listening socket readable). */
static void accept_client(void)
{
    int fd = accept(g_listen_fd, NULL, NULL);
    if (fd < 0) {
        return;
    }
    set_nonblocking(fd);
    g_fd = fd;
    g_stalled = 0;
    g_inbuf[0] = 0u; /* virtual delimiter: a fresh start for the frame receiver */
    g_in_pos = 0;
    g_in_len = 1;
}

/* Read what is waiting (non-blocking) into g_inbuf. */
static void fill(void)
{
    ssize_t n;
    if (g_fd < 0 || g_in_pos < g_in_len) {
        return;
    }
    n = read(g_fd, g_inbuf, sizeof g_inbuf);
    if (n > 0) {
        g_in_pos = 0;
        g_in_len = (size_t)n;
        g_stalled = 0;
    } else if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
        drop_client(); /* TCP: the client went away. pty: cannot happen while g_slave_fd is open */
    }
}

void board_init(void)
{
}

int board_uart_getc(uint8_t *byte)
{
    fill();
    if (g_in_pos < g_in_len) {
        *byte = g_inbuf[g_in_pos++];
        return 1;
    }
    return 0;
}

void board_uart_write(const uint8_t *buf, uint16_t len)
{
    size_t done = 0;
    while (done < len && g_fd >= 0 && !g_stop && !g_stalled) {
        ssize_t n = write(g_fd, buf + done, len - done);
        if (n > 0) {
            done += (size_t)n;
        } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            struct pollfd p;
            p.fd = g_fd;
            p.events = POLLOUT;
            p.revents = 0;
            if (poll(&p, 1, 1000) == 0) {
                fprintf(stderr, "snndev: nobody reads the output; discarding it until the client sends again\n");
                g_stalled = 1; /* COBS framing recovers at the next delimiter */
                return;
            }
        } else if (n < 0 && errno == EINTR) {
            continue;
        } else {
            drop_client();
            return;
        }
    }
}

uint32_t board_millis(void)
{
    return (uint32_t)(monotonic_ns() / UINT64_C(1000000));
}

uint32_t board_cycles(void)
{
    return (uint32_t)monotonic_ns();
}

void board_outputs(const int16_t *codes, uint16_t n)
{
    uint16_t k;
    g_n_outputs = n <= SNN_MAX_OUTPUTS ? n : (uint16_t)SNN_MAX_OUTPUTS;
    for (k = 0; k < g_n_outputs; k++) {
        g_last_outputs[k] = codes[k];
    }
    if (g_verbose) {
        fputs("outputs", stderr);
        for (k = 0; k < g_n_outputs; k++) {
            fprintf(stderr, " %d", (int)g_last_outputs[k]);
        }
        fputc('\n', stderr);
        fflush(stderr);
    }
}

int board_timer_start(uint32_t period_us)
{
    g_timer_period_ns = (uint64_t)period_us * UINT64_C(1000);
    g_timer_start_ns = monotonic_ns();
    return 0;
}

void board_timer_stop(void)
{
    g_timer_period_ns = 0;
}

uint32_t board_timer_periods(void)
{
    if (g_timer_period_ns == 0) {
        return 0;
    }
    return (uint32_t)((monotonic_ns() - g_timer_start_ns) / g_timer_period_ns);
}

int board_read_inputs(int16_t *codes, uint16_t n)
{
    return snn_device_sensor_take(codes, n);
}

void board_idle(void)
{
    struct pollfd p;
    if (g_in_pos < g_in_len) {
        return;
    }
    p.fd = g_fd >= 0 ? g_fd : g_listen_fd;
    p.events = POLLIN;
    p.revents = 0;
    if (poll(&p, 1, 1) > 0 && g_fd < 0 && g_listen_fd >= 0) {
        accept_client();
    }
}

static int open_pty(void)
{
    struct termios tio;
    const char *name;
    int master = posix_openpt(O_RDWR | O_NOCTTY);
    if (master < 0 || grantpt(master) != 0 || unlockpt(master) != 0 || (name = ptsname(master)) == NULL) {
        perror("snndev: pty");
        return -1;
    }
    g_slave_fd = open(name, O_RDWR | O_NOCTTY);
    if (g_slave_fd < 0 || tcgetattr(g_slave_fd, &tio) != 0) {
        perror("snndev: pty slave");
        return -1;
    }
    cfmakeraw(&tio);
    tio.c_cc[VMIN] = 1;
    tio.c_cc[VTIME] = 0;
    if (tcsetattr(g_slave_fd, TCSANOW, &tio) != 0) {
        perror("snndev: raw mode");
        return -1;
    }
    set_nonblocking(master);
    g_fd = master;
    printf("URL %s\n", name);
    return 0;
}

static int open_tcp(const char *port_arg)
{
    struct sockaddr_in addr;
    socklen_t alen = sizeof addr;
    char *end;
    long port = strtol(port_arg, &end, 10);
    int one = 1;
    if (*port_arg == '\0' || *end != '\0' || port < 0 || port > 65535) {
        fprintf(stderr, "snndev: bad port %s\n", port_arg);
        return -1;
    }
    g_listen_fd = socket(AF_INET, SOCK_STREAM, 0);
    if (g_listen_fd < 0) {
        perror("snndev: socket");
        return -1;
    }
    setsockopt(g_listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_port = htons((uint16_t)port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(g_listen_fd, (struct sockaddr *)&addr, sizeof addr) != 0 || listen(g_listen_fd, 1) != 0 ||
        getsockname(g_listen_fd, (struct sockaddr *)&addr, &alen) != 0) {
        perror("snndev: bind/listen");
        return -1;
    }
    set_nonblocking(g_listen_fd);
    printf("URL socket://127.0.0.1:%u\n", (unsigned)ntohs(addr.sin_port));
    return 0;
}

int main(int argc, char **argv)
{
    struct sigaction sa;
    const char *tcp_port = NULL;
    int rc, i;
    for (i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-v") == 0) {
            g_verbose = 1;
        } else if (strcmp(argv[i], "--tcp") == 0 && i + 1 < argc && tcp_port == NULL) {
            tcp_port = argv[++i];
        } else {
            fprintf(stderr, "usage: snndev [-v] [--tcp PORT]\n");
            return 2;
        }
    }
    rc = tcp_port != NULL ? open_tcp(tcp_port) : open_pty();
    if (rc != 0) {
        return 2;
    }
    fflush(stdout);
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    board_init();
    snn_device_init();
    while (!g_stop) {
        snn_device_poll();
        board_idle();
    }
    if (g_fd >= 0) {
        close(g_fd);
    }
    if (g_slave_fd >= 0) {
        close(g_slave_fd);
    }
    if (g_listen_fd >= 0) {
        close(g_listen_fd);
    }
    return 0;
}
