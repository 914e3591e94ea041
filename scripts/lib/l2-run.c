/*
 * l2-run: runs a VMM (tetra booting the L2 Linux guest) inside the x86_64 lane's emulated host and
 * watches its console, so that scripts/lib/l2-boot.sh can judge the boot and time it.
 *
 *   l2-run --log FILE --timeout SECS [--marker STR] [--prompt STR --input LINE]
 *          [--on-timeout SHELLCMD] -- CMD ARGS...
 *
 * It starts CMD with stdin and stdout/stderr on pipes and writes every output line to FILE,
 * prefixed with the seconds since CMD was started ("[   1.234] ..."; CLOCK_MONOTONIC of this
 * host). When a line contains the prompt, it writes LINE and a newline to CMD's stdin (once; an
 * empty prompt writes it at once, for a restored VM whose guest prompted before its snapshot). CMD
 * is killed (SIGKILL) when it runs longer than SECS; before that kill, SHELLCMD (if given) runs
 * under /bin/sh with its output appended to FILE ("[on-timeout] ..." lines), for at most 60 s, so
 * that a hang leaves a picture of where the VMM stood (its vCPUs through the control socket). The
 * last line on stdout is a summary:
 *
 *   L2RUN rc=<exit status, or 128+signal> timeout=<0|1> marker_s=<secs or -> input_s=<secs or ->
 *         total_s=<secs> lines=<n>
 *
 * Exit status: 0 when the summary could be written, 2 on a usage or set-up error. Built by
 * scripts/emu-test with the target's cross gcc (-static).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int usage(void)
{
	fprintf(stderr, "usage: l2-run --log FILE --timeout SECS [--marker STR] "
			"[--prompt STR --input LINE] [--on-timeout SHELLCMD] -- CMD ARGS...\n");
	return 2;
}

/* Runs `sh -c cmd` with its output as "[on-timeout] ..." lines in log, for at most 60 s. */
static void on_timeout(FILE *log, const char *cmd)
{
	fprintf(log, "[on-timeout] %s\n", cmd);
	fflush(log);
	int p[2];
	if (pipe2(p, O_CLOEXEC))
		return;
	pid_t pid = fork();
	if (pid < 0) {
		close(p[0]);
		close(p[1]);
		return;
	}
	if (pid == 0) {
		int null = open("/dev/null", O_RDONLY);
		dup2(null, 0);
		dup2(p[1], 1);
		dup2(p[1], 2);
		execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
		_exit(127);
	}
	close(p[1]);
	double end = now() + 60;
	char buf[4096];
	int at_start = 1;
	for (;;) {
		double left = end - now();
		if (left <= 0) {
			kill(pid, SIGKILL);
			fprintf(log, "\n[on-timeout] still running after 60 s: killed\n");
			break;
		}
		struct pollfd q = { .fd = p[0], .events = POLLIN };
		int r = poll(&q, 1, (int)(left * 1000) + 1);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			continue;
		ssize_t n = read(p[0], buf, sizeof buf);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		for (ssize_t k = 0; k < n; k++) {
			if (at_start)
				fputs("[on-timeout] ", log);
			fputc(buf[k], log);
			at_start = buf[k] == '\n';
		}
	}
	if (!at_start)
		fputc('\n', log);
	close(p[0]);
	waitpid(pid, NULL, 0);
	fflush(log);
}

static void fmt_secs(char *buf, size_t n, double t)
{
	if (t < 0)
		snprintf(buf, n, "-");
	else
		snprintf(buf, n, "%.3f", t);
}

int main(int argc, char **argv)
{
	const char *log_path = NULL, *marker = NULL, *prompt = NULL, *input = NULL, *hook = NULL;
	double timeout = 0;
	int i;
	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--") && i + 1 < argc) {
			i++;
			break;
		} else if (i + 1 >= argc) {
			return usage();
		} else if (!strcmp(argv[i], "--log")) {
			log_path = argv[++i];
		} else if (!strcmp(argv[i], "--timeout")) {
			timeout = atof(argv[++i]);
		} else if (!strcmp(argv[i], "--marker")) {
			marker = argv[++i];
		} else if (!strcmp(argv[i], "--prompt")) {
			prompt = argv[++i];
		} else if (!strcmp(argv[i], "--input")) {
			input = argv[++i];
		} else if (!strcmp(argv[i], "--on-timeout")) {
			hook = argv[++i];
		} else {
			return usage();
		}
	}
	if (!log_path || timeout <= 0 || i >= argc || (!prompt != !input))
		return usage();

	FILE *log = fopen(log_path, "w");
	if (!log) {
		perror(log_path);
		return 2;
	}
	int out[2], in[2];
	if (pipe2(out, O_CLOEXEC) || pipe2(in, O_CLOEXEC)) {
		perror("pipe");
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	double t0 = now();
	pid_t pid = fork();
	if (pid < 0) {
		perror("fork");
		return 2;
	}
	if (pid == 0) {
		dup2(in[0], 0);
		dup2(out[1], 1);
		dup2(out[1], 2);
		execvp(argv[i], &argv[i]);
		fprintf(stderr, "l2-run: exec %s: %s\n", argv[i], strerror(errno));
		_exit(127);
	}
	close(in[0]);
	close(out[1]);

	static char line[8192];
	size_t len = 0;
	long lines = 0;
	double marker_t = -1, input_t = -1, line_t = 0;
	int timed_out = 0, eof = 0;
	if (prompt && !*prompt) {
		/* An empty prompt: the line goes in at once (a restored VM that already prompted). */
		input_t = 0;
		dprintf(in[1], "%s\n", input);
	}
	while (!eof) {
		double left = t0 + timeout - now();
		if (left <= 0) {
			timed_out = 1;
			if (hook) {
				if (len) {
					/* The VMM's unfinished line first, so the hook's lines stand apart. */
					line[len] = 0;
					fprintf(log, "[%8.3f] %s\n", line_t, line);
					len = 0;
				}
				on_timeout(log, hook);
			}
			kill(pid, SIGKILL);
			break;
		}
		struct pollfd p = { .fd = out[0], .events = POLLIN };
		int r = poll(&p, 1, (int)(left * 1000) + 1);
		if (r < 0 && errno != EINTR) {
			perror("poll");
			kill(pid, SIGKILL);
			break;
		}
		if (r <= 0)
			continue;
		char buf[4096];
		ssize_t n = read(out[0], buf, sizeof buf);
		if (n < 0 && errno == EINTR)
			continue;
		double t = now() - t0;
		if (n <= 0) {
			eof = 1;
			n = 0;
		}
		for (ssize_t k = 0; k <= n; k++) {
			/* A line ends at '\n', at a full buffer, or (with what is left) at EOF. */
			int end = k < n ? buf[k] == '\n' : eof && len > 0;
			if (k < n && !end) {
				if (len == 0)
					line_t = t;
				if (buf[k] != '\r')
					line[len++] = buf[k];
				end = len == sizeof line - 1;
			}
			if (!end)
				continue;
			line[len] = 0;
			fprintf(log, "[%8.3f] %s\n", len ? line_t : t, line);
			lines++;
			if (marker && marker_t < 0 && strstr(line, marker))
				marker_t = len ? line_t : t;
			if (prompt && input_t < 0 && strstr(line, prompt)) {
				input_t = now() - t0;
				dprintf(in[1], "%s\n", input);
			}
			len = 0;
		}
		fflush(log);
	}
	int status = 0;
	waitpid(pid, &status, 0);
	double total = now() - t0;
	/* Output after a kill, still in the pipe. */
	char buf[4096];
	ssize_t n;
	fcntl(out[0], F_SETFL, O_NONBLOCK);
	while ((n = read(out[0], buf, sizeof buf)) > 0)
		fwrite(buf, 1, n, log);
	if (len) {
		line[len] = 0;
		fprintf(log, "[%8.3f] %s\n", line_t, line);
	}
	fclose(log);
	int rc = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
	char m[32], in_s[32];
	fmt_secs(m, sizeof m, marker_t);
	fmt_secs(in_s, sizeof in_s, input_t);
	printf("L2RUN rc=%d timeout=%d marker_s=%s input_s=%s total_s=%.3f lines=%ld\n", rc, timed_out,
	       m, in_s, total, lines);
	return 0;
}
