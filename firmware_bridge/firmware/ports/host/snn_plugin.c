/*
 * snn_plugin.c - the sensor/actuator plug-in of the host port: a child process under /bin/sh -c
 * whose stdin and stdout are pipes to us, spoken to in text lines (grammar in snn_plugin.h and
 * docs/firmware-boards.md §6). A separate process, not a shared object, so that a plug-in may be a
 * Python script, may crash without taking the device down, and needs no C ABI of ours.
 *
 * Both pipe ends are non-blocking. Every line we write is shorter than PIPE_BUF (4096 bytes), so
 * POSIX makes each write() all-or-nothing: a full pipe (a plug-in that stops reading) drops whole
 * lines, never half of one. Nothing here blocks longer than a read's budget.
 */
#define _DEFAULT_SOURCE 1
#define _XOPEN_SOURCE 700

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "snn.h"
#include "snn_plugin.h"

/* the longest line either way: 256 values of "-2147483648 " (12 bytes) = 3072 bytes, plus the verb */
#define PLUGIN_LINE_BYTES 4096u

static pid_t g_pid = -1;  /* the plug-in, -1 if none or reaped */
static int g_to = -1;     /* its stdin: we write */
static int g_from = -1;   /* its stdout: we read */
static int g_started;     /* --plugin was given */
static int g_dead;        /* its output closed or its input broke: no fresh samples from now on */
static int g_owed;        /* a `read` is outstanding (sent, its reply not yet received) */
static int g_skip;        /* inside an overlong line: bytes are dropped up to its newline */
static char g_line[PLUGIN_LINE_BYTES];
static size_t g_len;
/* the read call now waiting (g_cur_live), where its reply goes, and the result: -1 none yet */
static int g_cur_live, g_cur_result;
static int32_t *g_cur_raw;
static uint16_t g_cur_n;
static uint32_t g_cur_period;
static int g_told_malformed, g_told_unasked, g_told_full; /* each complaint is said once */

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * UINT64_C(1000000000) + (uint64_t)ts.tv_nsec;
}

static void sleep_ms(long ms)
{
    struct timespec ts;
    ts.tv_sec = ms / 1000;
    ts.tv_nsec = (ms % 1000) * 1000000L;
    nanosleep(&ts, NULL);
}

static void set_flags(int fd)
{
    int fl = fcntl(fd, F_GETFL);
    if (fl >= 0) {
        fcntl(fd, F_SETFL, fl | O_NONBLOCK);
    }
    fcntl(fd, F_SETFD, FD_CLOEXEC);
}

/* The plug-in is gone (or deaf): say so once, with its exit status if it has one. */
static void died(const char *what)
{
    int status = 0, k;
    pid_t r = 0;
    if (g_dead) {
        return;
    }
    g_dead = 1;
    g_owed = 0;
    /* its stdout closes just before it becomes reapable: give it 100 ms to finish exiting */
    for (k = 0; k < 100 && g_pid > 0 && (r = waitpid(g_pid, &status, WNOHANG)) == 0; k++) {
        sleep_ms(1);
    }
    if (g_pid > 0 && r == g_pid) {
        g_pid = -1;
        if (WIFEXITED(status)) {
            fprintf(stderr, "snndev: the plug-in exited with status %d: no fresh samples from now on\n",
                    WEXITSTATUS(status));
        } else {
            fprintf(stderr, "snndev: the plug-in was killed by signal %d: no fresh samples from now on\n",
                    WIFSIGNALED(status) ? WTERMSIG(status) : 0);
        }
    } else {
        fprintf(stderr, "snndev: the plug-in %s: no fresh samples from now on\n", what);
    }
    fflush(stderr);
}

/* Parse a reply: exactly n decimal int32 values separated by blanks. 1 and raw filled, or 0. */
static int parse_values(const char *s, int32_t *raw, uint16_t n)
{
    int32_t vals[SNN_MAX_INPUTS];
    uint16_t count = 0u;
    const char *p = s;
    char *end;
    long long v;
    if (n > SNN_MAX_INPUTS) {
        return 0;
    }
    for (;;) {
        while (*p == ' ' || *p == '\t') {
            p++;
        }
        if (*p == '\0') {
            break;
        }
        if (count == n) {
            return 0; /* too many values */
        }
        errno = 0;
        v = strtoll(p, &end, 10);
        if (end == p || (*end != ' ' && *end != '\t' && *end != '\0') || errno == ERANGE || v < INT32_MIN ||
            v > INT32_MAX) {
            return 0;
        }
        vals[count++] = (int32_t)v;
        p = end;
    }
    if (count != n) {
        return 0;
    }
    memcpy(raw, vals, (size_t)n * sizeof vals[0]);
    return 1;
}

/* One complete line from the plug-in (NUL-terminated, newline removed); overlong: it was cut. */
static void take_line(const char *line, int overlong)
{
    const char *s = line;
    int ok;
    if (!g_owed) {
        if (!g_told_unasked) {
            fprintf(stderr, "snndev: the plug-in wrote a line nobody asked for (\"%.60s\"); ignored (said once)\n",
                    line);
            g_told_unasked = 1;
        }
        return;
    }
    g_owed = 0;
    if (!g_cur_live) {
        return; /* the reply to a read whose budget ran out: stale, discarded */
    }
    while (*s == ' ' || *s == '\t') {
        s++;
    }
    if (!overlong && strncmp(s, "none", 4) == 0 && strspn(s + 4, " \t") == strlen(s + 4)) {
        g_cur_result = 0; /* no fresh sample, by the plug-in's own word */
        return;
    }
    ok = !overlong && parse_values(s, g_cur_raw, g_cur_n);
    if (!ok && !g_told_malformed) {
        fprintf(stderr,
                "snndev: the plug-in's reply to \"read %lu\" (\"%.60s%s\") is neither \"none\" nor the"
                " network's %u input value(s); such a reply counts as no fresh sample (said once)\n",
                (unsigned long)g_cur_period, line, overlong ? "..." : "", (unsigned)g_cur_n);
        g_told_malformed = 1;
    }
    g_cur_result = ok;
}

static void feed(const char *buf, size_t len)
{
    size_t k;
    for (k = 0; k < len; k++) {
        char c = buf[k];
        if (c == '\n') {
            if (g_len > 0u && g_line[g_len - 1u] == '\r') {
                g_len--;
            }
            g_line[g_len] = '\0';
            take_line(g_line, g_skip);
            g_len = 0u;
            g_skip = 0;
        } else if (g_skip) {
            continue;
        } else if (g_len + 1u >= sizeof g_line) {
            g_skip = 1; /* keep what we have for the message; drop the rest of the line */
        } else {
            g_line[g_len++] = c;
        }
    }
}

/* Take everything the plug-in has written so far (non-blocking). */
static void pump(void)
{
    char chunk[1024];
    while (!g_dead) {
        ssize_t r = read(g_from, chunk, sizeof chunk);
        if (r > 0) {
            feed(chunk, (size_t)r);
        } else if (r == 0) {
            died("closed its output");
        } else if (errno == EINTR) {
            continue;
        } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
            return;
        } else {
            died("output broke");
        }
    }
}

/* Write one whole line (< PIPE_BUF: all or nothing). 1 if it was written. */
static int send_line(const char *buf, size_t len)
{
    for (;;) {
        ssize_t r = write(g_to, buf, len);
        if (r == (ssize_t)len) {
            return 1;
        }
        if (r < 0 && errno == EINTR) {
            continue;
        }
        if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            if (!g_told_full) {
                fprintf(stderr, "snndev: the plug-in does not read its input (pipe full); lines to it are dropped"
                                " (said once)\n");
                g_told_full = 1;
            }
            return 0;
        }
        died("stopped reading its input"); /* EPIPE: its stdin is closed (SIGPIPE is ignored) */
        return 0;
    }
}

int snn_plugin_start(const char *command)
{
    int in[2], out[2];
    if (pipe(in) != 0 || pipe(out) != 0) {
        fprintf(stderr, "snndev: --plugin: pipe: %s\n", strerror(errno));
        return -1;
    }
    fflush(stdout);
    fflush(stderr);
    g_pid = fork();
    if (g_pid < 0) {
        fprintf(stderr, "snndev: --plugin: fork: %s\n", strerror(errno));
        return -1;
    }
    if (g_pid == 0) { /* the child: its stdin reads in[0], its stdout writes out[1]; stderr is ours */
        signal(SIGPIPE, SIG_DFL); /* snndev ignores it; exec would pass that on */
        dup2(in[0], 0);
        dup2(out[1], 1);
        close(in[0]);
        close(in[1]);
        close(out[0]);
        close(out[1]);
        execl("/bin/sh", "sh", "-c", command, (char *)NULL);
        _exit(127);
    }
    close(in[0]);
    close(out[1]);
    g_to = in[1];
    g_from = out[0];
    set_flags(g_to);
    set_flags(g_from);
    g_started = 1;
    return 0;
}

int snn_plugin_active(void)
{
    return g_started;
}

int snn_plugin_read(uint32_t period, int32_t *raw, uint16_t n, uint64_t budget_ns)
{
    char msg[32];
    int len;
    uint64_t deadline, now;
    if (!g_started || g_dead) {
        return 0;
    }
    pump(); /* a late reply to an earlier read arrives here and is discarded */
    if (g_dead || g_owed) {
        return 0; /* still owes the older reply: no second read in flight */
    }
    len = snprintf(msg, sizeof msg, "read %lu\n", (unsigned long)period);
    if (!send_line(msg, (size_t)len)) {
        return 0;
    }
    g_owed = 1;
    g_cur_live = 1;
    g_cur_result = -1;
    g_cur_raw = raw;
    g_cur_n = n;
    g_cur_period = period;
    deadline = now_ns() + budget_ns;
    for (;;) {
        struct pollfd p;
        uint64_t wait_ms;
        pump();
        if (g_cur_result >= 0 || g_dead) {
            break;
        }
        now = now_ns();
        if (now >= deadline) {
            break; /* late: this period has no fresh sample; the reply, when it comes, is dropped */
        }
        wait_ms = (deadline - now + UINT64_C(999999)) / UINT64_C(1000000);
        p.fd = g_from;
        p.events = POLLIN;
        p.revents = 0;
        poll(&p, 1, wait_ms > 60000u ? 60000 : (int)wait_ms);
    }
    g_cur_live = 0;
    return g_cur_result == 1;
}

void snn_plugin_out(const int32_t *raw, uint16_t n)
{
    char buf[PLUGIN_LINE_BYTES];
    size_t len = 3u;
    uint16_t k;
    if (!g_started || g_dead || n > SNN_MAX_OUTPUTS) {
        return;
    }
    memcpy(buf, "out", 3u);
    for (k = 0u; k < n; k++) { /* at most 12 bytes a value: 256 * 12 + 4 < sizeof buf */
        len += (size_t)snprintf(buf + len, sizeof buf - len, " %ld", (long)raw[k]);
    }
    buf[len++] = '\n';
    pump(); /* keep its output pipe drained even while the loop is stopped */
    if (!g_dead) {
        send_line(buf, len);
    }
}

void snn_plugin_close(void)
{
    int status, termed = 0;
    char sink[256];
    uint64_t t0 = now_ns(), t;
    if (!g_started) {
        return;
    }
    close(g_to); /* EOF on its stdin: a plug-in exits when it reads that */
    g_to = -1;
    /* 1 s to exit, then SIGTERM, 0.5 s more, then SIGKILL */
    while (g_pid > 0 && (t = now_ns() - t0) < UINT64_C(1500000000)) {
        if (waitpid(g_pid, &status, WNOHANG) == g_pid) {
            g_pid = -1;
            break;
        }
        while (read(g_from, sink, sizeof sink) > 0) {
            /* drain: a plug-in blocked writing to us could not exit */
        }
        if (!termed && t >= UINT64_C(1000000000)) {
            kill(g_pid, SIGTERM);
            termed = 1;
        }
        sleep_ms(1);
    }
    if (g_pid > 0) {
        kill(g_pid, SIGKILL);
        waitpid(g_pid, &status, 0);
        g_pid = -1;
    }
    close(g_from);
    g_from = -1;
}
