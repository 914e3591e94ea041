// io-bench: the block and network benchmark of the x86_64 lane's :bench runs (emu-test
// --l2-runs 'N:quiet:virtio:pci:bench --l2-qemu'), the same static binary in the L2 guest and in
// the emulated host, so tetra's and QEMU's virtio devices are measured by the same code.
//
//   io-bench randread DEV SECS        4 KiB O_DIRECT reads at random 4 KiB-aligned offsets, one at
//                                     a time (queue depth 1, fio's rw=randread bs=4k iodepth=1
//                                     direct=1), for SECS seconds: "iops=N"
//   io-bench seqread DEV SECS         1 MiB O_DIRECT reads in order, wrapping at the end (fio's
//                                     rw=read bs=1m iodepth=1 direct=1): "mibs=X"
//   io-bench tcp-sink PORT            accept one TCP connection, read it to its end, close: "mibs=X"
//   io-bench tcp-source PORT SECS     accept one TCP connection, send for SECS seconds, close
//   io-bench tcp-send HOST PORT SECS  connect, send for SECS seconds, half-close and wait for the
//                                     peer's close (so every byte arrived): "mibs=X"
//   io-bench tcp-recv HOST PORT       connect, read to the end: "mibs=X"
//
// A result line is printed on stdout as KEY=VALUE with "bytes=" and "secs=" beside it; errors go
// to stderr with a non-zero status. Not a test: l2-boot.sh reports the figures and their ratios.
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <linux/fs.h>

#define SMALL 4096
#define LARGE (1 << 20)
#define NET_BUF (128 << 10)

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int die(const char *what)
{
	fprintf(stderr, "io-bench: %s: %s\n", what, strerror(errno));
	return 1;
}

// xorshift64*: cheap, deterministic offsets (the same sequence under every VMM).
static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static uint64_t next_random(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 2685821657736338717ull;
}

static int disk(const char *dev, double secs, int random)
{
	size_t bs = random ? SMALL : LARGE;
	void *buf;
	uint64_t size = 0, blocks, n = 0, pos = 0;
	int fd = open(dev, O_RDONLY | O_DIRECT);
	if (fd < 0)
		return die(dev);
	if (ioctl(fd, BLKGETSIZE64, &size) != 0) {
		struct stat st;
		if (fstat(fd, &st) != 0)
			return die("size");
		size = (uint64_t)st.st_size;
	}
	blocks = size / bs;
	if (blocks == 0) {
		fprintf(stderr, "io-bench: %s has %llu bytes, less than one %zu-byte block\n", dev,
			(unsigned long long)size, bs);
		return 1;
	}
	if (posix_memalign(&buf, SMALL, bs) != 0)
		return die("posix_memalign");
	double t0 = now(), t = t0;
	while (t - t0 < secs) {
		uint64_t block = random ? next_random() % blocks : pos++ % blocks;
		ssize_t got = pread(fd, buf, bs, (off_t)(block * bs));
		if (got != (ssize_t)bs) {
			if (got >= 0)
				errno = EIO;
			return die("pread");
		}
		n++;
		if ((n & 15) == 0 || !random)
			t = now();
	}
	t = now() - t0;
	if (random)
		printf("iops=%.0f bytes=%llu secs=%.2f\n", (double)n / t, (unsigned long long)(n * bs), t);
	else
		printf("mibs=%.1f bytes=%llu secs=%.2f\n", (double)(n * bs) / t / 1048576.0,
		       (unsigned long long)(n * bs), t);
	return 0;
}

static int listen_accept(const char *port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(port)) };
	int one = 1, fd = socket(AF_INET, SOCK_STREAM, 0), c;
	if (fd < 0)
		return -die("socket");
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) != 0 || listen(fd, 1) != 0)
		return -die("bind/listen");
	c = accept(fd, NULL, NULL);
	if (c < 0)
		return -die("accept");
	close(fd);
	return c;
}

static int connect_to(const char *host, const char *port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(port)) };
	int fd = socket(AF_INET, SOCK_STREAM, 0), tries;
	if (fd < 0)
		return -die("socket");
	if (inet_pton(AF_INET, host, &a.sin_addr) != 1) {
		fprintf(stderr, "io-bench: %s is not an IPv4 address\n", host);
		return -1;
	}
	// The other side may not listen yet: try for 20 s.
	for (tries = 0; connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0; tries++) {
		if (tries >= 200)
			return -die("connect");
		usleep(100000);
	}
	return fd;
}

static int receive(int fd)
{
	static char buf[NET_BUF];
	unsigned long long total = 0;
	ssize_t got;
	double t0 = now();
	while ((got = read(fd, buf, sizeof(buf))) > 0)
		total += (unsigned long long)got;
	if (got < 0)
		return die("read");
	double t = now() - t0;
	close(fd);
	printf("mibs=%.1f bytes=%llu secs=%.2f\n", (double)total / t / 1048576.0, total, t);
	return 0;
}

static int send_for(int fd, double secs, int report)
{
	static char buf[NET_BUF];
	unsigned long long total = 0;
	double t0 = now();
	memset(buf, 0x5a, sizeof(buf));
	while (now() - t0 < secs) {
		ssize_t put = write(fd, buf, sizeof(buf));
		if (put <= 0)
			return die("write");
		total += (unsigned long long)put;
	}
	// Half-close and wait for the peer's close: the time then covers delivery, not buffering.
	shutdown(fd, SHUT_WR);
	while (read(fd, buf, sizeof(buf)) > 0) {
	}
	double t = now() - t0;
	close(fd);
	if (report)
		printf("mibs=%.1f bytes=%llu secs=%.2f\n", (double)total / t / 1048576.0, total, t);
	return 0;
}

int main(int argc, char **argv)
{
	int fd;
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc == 4 && !strcmp(argv[1], "randread"))
		return disk(argv[2], atof(argv[3]), 1);
	if (argc == 4 && !strcmp(argv[1], "seqread"))
		return disk(argv[2], atof(argv[3]), 0);
	if (argc == 3 && !strcmp(argv[1], "tcp-sink"))
		return (fd = listen_accept(argv[2])) < 0 ? 1 : receive(fd);
	if (argc == 4 && !strcmp(argv[1], "tcp-source"))
		return (fd = listen_accept(argv[2])) < 0 ? 1 : send_for(fd, atof(argv[3]), 0);
	if (argc == 5 && !strcmp(argv[1], "tcp-send"))
		return (fd = connect_to(argv[2], argv[3])) < 0 ? 1 : send_for(fd, atof(argv[4]), 1);
	if (argc == 4 && !strcmp(argv[1], "tcp-recv"))
		return (fd = connect_to(argv[2], argv[3])) < 0 ? 1 : receive(fd);
	fprintf(stderr, "usage: io-bench randread|seqread DEV SECS | tcp-sink PORT | tcp-source PORT SECS |"
			" tcp-send HOST PORT SECS | tcp-recv HOST PORT\n");
	return 2;
}
