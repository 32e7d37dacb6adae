/*
 * snndev - the POSIX "virtual device": the device library (firmware/device) and the C99 core behind
 * a pseudo-terminal or a TCP socket, speaking docs/protocol.md like a board on a serial port.
 *
 *   snndev              serve on a new pty; prints "URL /dev/pts/N" on stdout
 *   snndev --tcp PORT   serve on 127.0.0.1:PORT, one client at a time (PORT 0: any free port);
 *                       prints "URL socket://127.0.0.1:PORT" on stdout (pyserial's socket:// URL)
 *     --bind ADDR       listen on IPv4 address ADDR instead (0.0.0.0: every interface, e.g. a
 *                       Raspberry Pi served over the network); the URL line names ADDR
 *   snndev --serial DEV serve on a real serial device (/dev/ttyAMA0, /dev/ttyUSB0, /dev/ttyGS0, ...)
 *     --baud N          in raw mode (termios: 8N1, no echo, no flow control) at N baud (default
 *                       115200); prints "URL DEV". This is how a Linux edge board (the linux-aarch64
 *                       and linux-armhf builds of this file, docs/firmware-boards.md) talks to a host.
 *   -v                  (before or after --tcp) log every board_outputs call on stderr as one line
 *                       "outputs c0 c1 ..." (the actuator hook: STEP results and watchdog fail-safe codes)
 *   --nv FILE           non-volatile memory (docs/protocol.md §9): FILE, created or grown to
 *                       SNN_HOST_NV_BYTES, keeps the committed network and the on-board loop's "was
 *                       running" flag, so a restart with the same FILE comes back with both (a power
 *                       cycle). Without --nv the device has no NV memory (RAM only, as before).
 *   --nv-cut N          test aid: a power cut after N bytes written to FILE - the write that crosses
 *                       N stores only its first bytes, then the process exits with status 3 at once
 *   --plugin 'CMD ARGS' the sensor/actuator plug-in (snn_plugin.c; docs/firmware-boards.md §6): CMD
 *                       runs under /bin/sh -c with pipes on its stdin/stdout; each on-board period
 *                       asks it for raw sensor values ("read P"), every board_outputs call hands it the
 *                       raw actuator values ("out V..."), both through the network's `unit` section
 *
 * The URL line is flushed as soon as the device is listening; the device then serves until
 * SIGTERM or SIGINT and exits 0. Diagnostics go to stderr. Exit status 2: usage or setup error.
 *
 * A --serial device that hangs up (USB adapter unplugged) is closed and its path reopened every
 * 0.5 s; the network and an on-board loop live on meanwhile.
 * The pty's slave side (and a --serial device) is put in raw mode (no echo, no newline or
 * flow-control rewriting) and the device keeps one slave descriptor open itself, so a client may
 * close and reopen the path at will.
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
 * this "board" has no sensor of its own), or, with --plugin, asks the plug-in and waits for its
 * reply at most half a period (then the period has no fresh sample: the fail-safe rule counts it).
 */
#define _DEFAULT_SOURCE 1
#define _XOPEN_SOURCE 700

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "board.h"
#include "snn_dev_config.h"
#include "snn_device.h"
#include "snn_plugin.h"

#if !SNN_CORE_UNITS
#error "the host port converts the plug-in's raw values with snn_units.c: build with SNN_CORE_UNITS=1"
#endif

static volatile sig_atomic_t g_stop;
static int g_fd = -1;        /* the byte stream: pty master or the connected TCP client, -1 if none */
static int g_slave_fd = -1;  /* pty mode: our own slave descriptor (keeps the pty alive) */
static int g_serial_fd = -1; /* --serial mode: the device (a line has no "client"), -1 while hung up */
static const char *g_serial_path;  /* --serial DEV, NULL in the other modes */
static speed_t g_serial_speed;     /* its termios speed, reapplied when it comes back */
static uint64_t g_serial_retry_ns; /* hung up: the next reopen attempt (monotonic ns) */
static int g_listen_fd = -1; /* TCP mode */
static uint8_t g_inbuf[4096];
static size_t g_in_len, g_in_pos;
static int16_t g_last_outputs[SNN_MAX_OUTPUTS];
static uint16_t g_n_outputs;
static int g_verbose;
static int g_stalled; /* output timed out: discard writes until the client sends again */
/* Output is gathered here and written when a frame's 0x00 delimiter is (COBS frames hold no other
 * zero byte), so a reply leaves in one write(): over TCP one segment, not one per COBS block. The
 * largest frame is COBS(header + payload + CRC) + delimiter < 2 * (SNN_DEV_MAX_PAYLOAD + 16). */
static uint8_t g_outbuf[2u * (SNN_DEV_MAX_PAYLOAD + 16u)];
static size_t g_out_len;
static uint64_t g_timer_start_ns, g_timer_period_ns; /* on-board loop timer; period 0 = stopped */
static int g_nv_fd = -1;             /* --nv FILE, -1 if none */
static long long g_nv_cut = -1;      /* --nv-cut N: bytes board_nv_write may still store, -1 = no cut */
static uint32_t g_timer_last; /* the last board_timer_periods() value: the period being handled */

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

/* --serial: the device hung up (a USB adapter unplugged, a USB gadget's host gone, a pty's other
 * side closed). Reading it again would return the same error at once, i.e. spin a core; so close
 * it and reopen the path every SERIAL_RETRY_NS (board_idle) - the network stays loaded and an
 * on-board loop keeps running meanwhile, as on a board whose cable was pulled. */
#define SERIAL_RETRY_NS UINT64_C(500000000)

static void serial_lost(int err)
{
    fprintf(stderr, "snndev: --serial %s hung up (%s); the network stays loaded; reopening it every 0.5 s\n",
            g_serial_path, err != 0 ? strerror(err) : "end of file");
    close(g_serial_fd);
    g_fd = g_serial_fd = -1;
    g_in_len = g_in_pos = 0;
    g_out_len = 0u;
    g_serial_retry_ns = monotonic_ns() + SERIAL_RETRY_NS;
}

static void drop_client(int err)
{
    if (g_serial_path != NULL && g_fd >= 0) {
        serial_lost(err);
    } else if (g_listen_fd >= 0 && g_fd >= 0) {
        close(g_fd);
        g_fd = -1;
        g_in_len = g_in_pos = 0;
    }
}

/* Accept a waiting TCP client (listening socket readable). */
static void accept_client(void)
{
    int one = 1;
    int fd = accept(g_listen_fd, NULL, NULL);
    if (fd < 0) {
        return;
    }
    set_nonblocking(fd);
    /* no Nagle delay: every reply is a small packet the client waits for (without this, pipelined
     * STEPs wait ~40 ms for delayed ACKs, as QEMU's serial server does with nodelay=on) */
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    g_fd = fd;
    g_stalled = 0;
    g_out_len = 0u;
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
    } else if (n == 0) {
        /* TCP: the client went away. --serial (VMIN = VTIME = 0): simply no byte yet - a hang-up
         * shows as POLLHUP in board_idle. pty: cannot happen while g_slave_fd is open */
        if (g_serial_path == NULL) {
            drop_client(0);
        }
    } else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
        drop_client(errno);
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

/* Write all of buf to the client (blocking up to 1 s per stall). */
static void write_all(const uint8_t *buf, size_t len)
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
            drop_client(n < 0 ? errno : 0);
            return;
        }
    }
}

void board_uart_write(const uint8_t *buf, uint16_t len)
{
    uint16_t k;
    for (k = 0u; k < len; k++) {
        g_outbuf[g_out_len++] = buf[k];
        if (buf[k] == 0u || g_out_len == sizeof g_outbuf) { /* end of a frame, or (never, by the bound) full */
            write_all(g_outbuf, g_out_len);
            g_out_len = 0u;
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
    const snn_net_t *net;
    int32_t raw[SNN_MAX_OUTPUTS];
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
    if (snn_plugin_active() && (net = snn_device_network()) != NULL && n == net->n_outputs) {
        snn_outputs_to_raw(net, codes, raw); /* codes -> the actuators' raw units (`unit` section) */
        snn_plugin_out(raw, n);
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
    g_timer_last = (uint32_t)((monotonic_ns() - g_timer_start_ns) / g_timer_period_ns);
    return g_timer_last;
}

/* SENSOR frames, or with --plugin the plug-in's raw values for this period, converted to codes. */
int board_read_inputs(int16_t *codes, uint16_t n)
{
    int32_t raw[SNN_MAX_INPUTS];
    const snn_net_t *net = snn_device_network();
    if (!snn_plugin_active()) {
        return snn_device_sensor_take(codes, n);
    }
    if (net == NULL || n != net->n_inputs || n > SNN_MAX_INPUTS) {
        return 0;
    }
    /* the device library calls this right after board_timer_periods(): g_timer_last is the
       period of the TELEMETRY frame this sample will be reported in */
    if (!snn_plugin_read(g_timer_last, raw, n, g_timer_period_ns / 2u)) {
        return 0;
    }
    snn_inputs_from_raw(net, raw, codes);
    return 1;
}

uint32_t board_nv_size(void)
{
    return g_nv_fd >= 0 ? (uint32_t)SNN_HOST_NV_BYTES : 0u;
}

int board_nv_read(uint32_t off, uint8_t *buf, uint32_t n)
{
    ssize_t got;
    if (g_nv_fd < 0 || (uint64_t)off + n > (uint64_t)SNN_HOST_NV_BYTES) {
        return -1;
    }
    got = pread(g_nv_fd, buf, n, (off_t)off);
    return got == (ssize_t)n ? 0 : -1;
}

/* pwrite + fdatasync: on a Linux edge board the bytes are on the medium when this returns. With
 * --nv-cut, the write that crosses the budget stores only its first bytes and the process ends
 * there, as a power cut would end it (nothing after that byte happens). */
int board_nv_write(uint32_t off, const uint8_t *buf, uint32_t n)
{
    uint32_t keep = n;
    if (g_nv_fd < 0 || (uint64_t)off + n > (uint64_t)SNN_HOST_NV_BYTES) {
        return -1;
    }
    if (g_nv_cut >= 0 && (long long)n > g_nv_cut) {
        keep = (uint32_t)g_nv_cut;
    }
    if (keep > 0u && pwrite(g_nv_fd, buf, keep, (off_t)off) != (ssize_t)keep) {
        return -1;
    }
    if (keep < n) {
        _exit(3); /* the cut: no fdatasync needed, the page cache outlives the process */
    }
    if (g_nv_cut >= 0) {
        g_nv_cut -= (long long)n;
    }
    return fdatasync(g_nv_fd) == 0 ? 0 : -1;
}

/* --nv FILE: open or create it, grown (with zeros: no valid record) to SNN_HOST_NV_BYTES. */
static int open_nv(const char *path)
{
    struct stat st;
    g_nv_fd = open(path, O_RDWR | O_CREAT, 0644);
    if (g_nv_fd < 0 || fstat(g_nv_fd, &st) != 0) {
        fprintf(stderr, "snndev: --nv %s: %s\n", path, strerror(errno));
        return -1;
    }
    if ((unsigned long long)st.st_size < (unsigned long long)SNN_HOST_NV_BYTES &&
        ftruncate(g_nv_fd, (off_t)SNN_HOST_NV_BYTES) != 0) {
        fprintf(stderr, "snndev: --nv %s: cannot size it to %lu bytes: %s\n", path,
                (unsigned long)SNN_HOST_NV_BYTES, strerror(errno));
        return -1;
    }
    return 0;
}

static int serial_open(void);

void board_idle(void)
{
    struct pollfd p;
    if (g_in_pos < g_in_len) {
        return;
    }
    if (g_serial_path != NULL && g_fd < 0) { /* hung up: wait 1 ms (the loop's tick), retry now and then */
        poll(NULL, 0, 1);
        if (monotonic_ns() >= g_serial_retry_ns) {
            g_serial_retry_ns = monotonic_ns() + SERIAL_RETRY_NS;
            if (serial_open() == 0) {
                fprintf(stderr, "snndev: --serial %s is back\n", g_serial_path);
                g_inbuf[0] = 0u; /* virtual delimiter: a frame cut by the hang-up is not merged */
                g_in_pos = 0;
                g_in_len = 1;
            }
        }
        return;
    }
    p.fd = g_fd >= 0 ? g_fd : g_listen_fd;
    p.events = POLLIN;
    p.revents = 0;
    if (poll(&p, 1, 1) > 0) {
        if (g_fd < 0 && g_listen_fd >= 0) {
            accept_client();
        } else if (g_serial_path != NULL && (p.revents & (POLLHUP | POLLERR | POLLNVAL)) != 0) {
            drop_client(EIO); /* the line hung up: every poll and read would now return at once */
        }
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

static int open_tcp(const char *port_arg, const char *bind_addr)
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
    if (inet_pton(AF_INET, bind_addr, &addr.sin_addr) != 1) {
        fprintf(stderr, "snndev: --bind %s is not an IPv4 address (e.g. 127.0.0.1 or 0.0.0.0)\n", bind_addr);
        return -1;
    }
    if (bind(g_listen_fd, (struct sockaddr *)&addr, sizeof addr) != 0 || listen(g_listen_fd, 1) != 0 ||
        getsockname(g_listen_fd, (struct sockaddr *)&addr, &alen) != 0) {
        perror("snndev: bind/listen");
        return -1;
    }
    set_nonblocking(g_listen_fd);
    printf("URL socket://%s:%u\n", bind_addr, (unsigned)ntohs(addr.sin_port));
    return 0;
}

/* The termios speed constant of `baud`, 0 if POSIX/Linux has none. */
static speed_t baud_constant(long baud)
{
    static const struct {
        long baud;
        speed_t code;
    } table[] = {{9600, B9600}, {19200, B19200}, {38400, B38400}, {57600, B57600}, {115200, B115200},
                 {230400, B230400}, {460800, B460800}, {921600, B921600}};
    size_t i;
    for (i = 0; i < sizeof table / sizeof table[0]; i++) {
        if (table[i].baud == baud) {
            return table[i].code;
        }
    }
    return 0;
}

/* --serial: open the device in raw mode (8N1, no echo, no flow control, no line editing),
 * non-blocking like the pty master, so the device library's poll loop is the same. 0 or errno. */
static int serial_open(void)
{
    struct termios tio;
    int fd = open(g_serial_path, O_RDWR | O_NOCTTY | O_NONBLOCK);
    if (fd < 0) {
        return errno;
    }
    if (tcgetattr(fd, &tio) != 0) {
        int err = errno;
        close(fd);
        return err;
    }
    cfmakeraw(&tio);               /* no echo, no CR/LF or flow-control rewriting, 8 data bits, no parity */
    tio.c_cflag |= CLOCAL | CREAD; /* ignore modem lines, enable the receiver */
    tio.c_cflag &= ~(tcflag_t)(CSTOPB | CRTSCTS); /* 1 stop bit, no hardware flow control */
    tio.c_cc[VMIN] = 0;
    tio.c_cc[VTIME] = 0;
    if (cfsetispeed(&tio, g_serial_speed) != 0 || cfsetospeed(&tio, g_serial_speed) != 0 ||
        tcsetattr(fd, TCSANOW, &tio) != 0) {
        int err = errno;
        close(fd);
        return err;
    }
    tcflush(fd, TCIOFLUSH); /* whatever arrived before we listened is not a frame of ours */
    g_fd = g_serial_fd = fd;
    return 0;
}

static int open_serial(const char *path, const char *baud_arg)
{
    char *end;
    long baud = strtol(baud_arg, &end, 10);
    int err;
    g_serial_speed = (*baud_arg != '\0' && *end == '\0') ? baud_constant(baud) : 0;
    if (g_serial_speed == 0) {
        fprintf(stderr, "snndev: --baud %s: use one of 9600 19200 38400 57600 115200 230400 460800 921600\n",
                baud_arg);
        return -1;
    }
    g_serial_path = path;
    err = serial_open();
    if (err != 0) {
        fprintf(stderr, "snndev: --serial %s: %s\n", path, strerror(err));
        return -1;
    }
    printf("URL %s\n", path);
    return 0;
}

int main(int argc, char **argv)
{
    struct sigaction sa;
    const char *tcp_port = NULL, *serial_path = NULL, *bind_addr = "127.0.0.1", *baud = "115200", *plugin = NULL;
    const char *nv_path = NULL, *nv_cut = NULL;
    int rc, i, usage = 0;
    for (i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-v") == 0) {
            g_verbose = 1;
        } else if (strcmp(argv[i], "--tcp") == 0 && i + 1 < argc && tcp_port == NULL) {
            tcp_port = argv[++i];
        } else if (strcmp(argv[i], "--bind") == 0 && i + 1 < argc) {
            bind_addr = argv[++i];
        } else if (strcmp(argv[i], "--serial") == 0 && i + 1 < argc && serial_path == NULL) {
            serial_path = argv[++i];
        } else if (strcmp(argv[i], "--baud") == 0 && i + 1 < argc) {
            baud = argv[++i];
        } else if (strcmp(argv[i], "--nv") == 0 && i + 1 < argc && nv_path == NULL) {
            nv_path = argv[++i];
        } else if (strcmp(argv[i], "--nv-cut") == 0 && i + 1 < argc && nv_cut == NULL) {
            nv_cut = argv[++i];
        } else if (strcmp(argv[i], "--plugin") == 0 && i + 1 < argc && plugin == NULL && argv[i + 1][0] != '\0') {
            plugin = argv[++i];
        } else {
            usage = 1;
        }
    }
    if (usage || (tcp_port != NULL && serial_path != NULL) || (nv_cut != NULL && nv_path == NULL)) {
        fprintf(stderr, "usage: snndev [-v] [--tcp PORT [--bind ADDR] | --serial DEV [--baud N]] [--nv FILE [--nv-cut N]]"
                        " [--plugin 'CMD ARGS']\n");
        return 2;
    }
    if (nv_cut != NULL) {
        char *end;
        g_nv_cut = strtoll(nv_cut, &end, 10);
        if (*nv_cut == '\0' || *end != '\0' || g_nv_cut < 0) {
            fprintf(stderr, "snndev: --nv-cut %s: a byte count >= 0, e.g. --nv-cut 100\n", nv_cut);
            return 2;
        }
    }
    signal(SIGPIPE, SIG_IGN); /* a dead client or plug-in is an EPIPE, not our death */
    if (plugin != NULL && snn_plugin_start(plugin) != 0) { /* first: the child inherits none of our ports */
        return 2;
    }
    if (nv_path != NULL && open_nv(nv_path) != 0) {
        return 2;
    }
    rc = tcp_port != NULL ? open_tcp(tcp_port, bind_addr) : serial_path != NULL ? open_serial(serial_path, baud) : open_pty();
    if (rc != 0) {
        snn_plugin_close();
        return 2;
    }
    fflush(stdout);
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);

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
    /* g_serial_fd is g_fd, closed above */
    if (g_listen_fd >= 0) {
        close(g_listen_fd);
    }
    if (g_nv_fd >= 0) {
        close(g_nv_fd);
    }
    snn_plugin_close(); /* EOF on its stdin, then it has a moment to exit */
    return 0;
}
