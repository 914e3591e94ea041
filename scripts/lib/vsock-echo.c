/*
 * vsock-echo: the x86_64 lane's vsock check, on both sides of tetra's --vsock cid=N,uds=PATH.
 *
 *   vsock-echo listen PORT              (L2 guest) accept one AF_VSOCK connection on PORT, echo
 *                                       one line back, print "in=<line>"
 *   vsock-echo connect PORT MSG         (L2 guest) connect to the host (CID 2) PORT, send MSG and a
 *                                       newline, print "out=<the line that came back>"
 *   vsock-echo unix-listen PATH         (host) accept one Unix connection at PATH, echo one line
 *   vsock-echo unix-connect PATH PORT MSG SECS
 *                                       (host) connect to tetra's socket PATH, write
 *                                       "CONNECT PORT\n", expect "OK <hostport>\n", send MSG and a
 *                                       newline, print "out=<the line that came back>"; retried
 *                                       (the guest may not listen yet) for SECS seconds
 *   vsock-echo connect-cid CID PORT MSG SECS
 *                                       (host, tetra's --vsock cid=N without uds=: the kernel's
 *                                       vhost-vsock) connect to guest CID PORT, send MSG and a
 *                                       newline, print "out=<the line that came back>"; retried
 *                                       for SECS seconds. The guest's connections to the host
 *                                       (CID 2) meet "vsock-echo listen PORT" on the host.
 *
 * Exit status 0 when the exchange happened, 1 otherwise. Built by scripts/emu-test with the
 * target's cross gcc (-static).
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#include <linux/vm_sockets.h>

/* Reads one line (without its newline) into buf; -1 when the stream ends first. */
static int read_line(int fd, char *buf, size_t n)
{
	size_t i = 0;
	while (i + 1 < n) {
		char c;
		ssize_t r = read(fd, &c, 1);
		if (r <= 0)
			return -1;
		if (c == '\n')
			break;
		buf[i++] = c;
	}
	buf[i] = 0;
	return (int)i;
}

static int write_all(int fd, const char *s, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, s, n);
		if (w <= 0)
			return -1;
		s += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Sends msg and a newline on fd and prints the line that comes back. */
static int exchange(int fd, const char *msg)
{
	char line[256];
	if (write_all(fd, msg, strlen(msg)) || write_all(fd, "\n", 1) || read_line(fd, line, sizeof(line)) < 0)
		return 1;
	printf("out=%s\n", line);
	return 0;
}

/* Echoes one line on the first connection accepted on the listening socket l. */
static int echo_one(int l, int print)
{
	char line[256];
	int c = accept(l, NULL, NULL);
	if (c < 0 || read_line(c, line, sizeof(line)) < 0) {
		perror("vsock-echo: accept/read");
		return 1;
	}
	if (print)
		printf("in=%s\n", line);
	write_all(c, line, strlen(line));
	write_all(c, "\n", 1);
	close(c);
	return 0;
}

static int unix_addr(struct sockaddr_un *a, const char *path)
{
	memset(a, 0, sizeof(*a));
	a->sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(a->sun_path))
		return -1;
	strcpy(a->sun_path, path);
	return 0;
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc == 3 && !strcmp(argv[1], "listen")) {
		struct sockaddr_vm a = { .svm_family = AF_VSOCK, .svm_cid = VMADDR_CID_ANY,
					 .svm_port = (unsigned)atoi(argv[2]) };
		int l = socket(AF_VSOCK, SOCK_STREAM, 0);
		if (l < 0 || bind(l, (struct sockaddr *)&a, sizeof(a)) || listen(l, 4)) {
			perror("vsock-echo: listen");
			return 1;
		}
		return echo_one(l, 1);
	}
	if (argc == 4 && !strcmp(argv[1], "connect")) {
		struct sockaddr_vm a = { .svm_family = AF_VSOCK, .svm_cid = VMADDR_CID_HOST,
					 .svm_port = (unsigned)atoi(argv[2]) };
		int s = socket(AF_VSOCK, SOCK_STREAM, 0);
		if (s < 0 || connect(s, (struct sockaddr *)&a, sizeof(a))) {
			perror("vsock-echo: connect");
			return 1;
		}
		return exchange(s, argv[3]);
	}
	if (argc == 6 && !strcmp(argv[1], "connect-cid")) {
		struct sockaddr_vm a = { .svm_family = AF_VSOCK, .svm_cid = (unsigned)strtoul(argv[2], NULL, 0),
					 .svm_port = (unsigned)atoi(argv[3]) };
		time_t end = time(NULL) + atoi(argv[5]);
		do {
			int s = socket(AF_VSOCK, SOCK_STREAM, 0);
			if (s >= 0 && !connect(s, (struct sockaddr *)&a, sizeof(a)))
				return exchange(s, argv[4]);
			if (s >= 0)
				close(s);
			sleep(1);
		} while (time(NULL) < end);
		perror("vsock-echo: connect-cid");
		return 1;
	}
	if (argc == 3 && !strcmp(argv[1], "unix-listen")) {
		struct sockaddr_un a;
		int l = socket(AF_UNIX, SOCK_STREAM, 0);
		unlink(argv[2]);
		if (l < 0 || unix_addr(&a, argv[2]) || bind(l, (struct sockaddr *)&a, sizeof(a)) || listen(l, 4)) {
			perror("vsock-echo: unix-listen");
			return 1;
		}
		return echo_one(l, 0);
	}
	if (argc == 6 && !strcmp(argv[1], "unix-connect")) {
		struct sockaddr_un a;
		time_t end = time(NULL) + atoi(argv[5]);
		char req[64], line[256];
		snprintf(req, sizeof(req), "CONNECT %s\n", argv[3]);
		if (unix_addr(&a, argv[2]))
			return 1;
		do {
			int s = socket(AF_UNIX, SOCK_STREAM, 0);
			if (s >= 0 && !connect(s, (struct sockaddr *)&a, sizeof(a)) &&
			    !write_all(s, req, strlen(req)) && read_line(s, line, sizeof(line)) >= 0 &&
			    !strncmp(line, "OK ", 3))
				return exchange(s, argv[4]);
			if (s >= 0)
				close(s);
			sleep(1);
		} while (time(NULL) < end);
		fprintf(stderr, "vsock-echo: no connection to port %s through %s\n", argv[3], argv[2]);
		return 1;
	}
	fprintf(stderr, "usage: vsock-echo listen PORT | connect PORT MSG | unix-listen PATH | "
			"unix-connect PATH PORT MSG SECS\n");
	return 2;
}
