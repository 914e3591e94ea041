/*
 * The vmm bench's static baseline: the minimal KVM_RUN loop of minimal.rs in C, built by the
 * bench with `cc -O2 -static` (no Rust runtime, no dynamic loader). In-kernel irqchip, KVM's
 * supported CPUID, with "pit" the in-kernel PIT too; it loads a raw real-mode image, copies port
 * 0x3f8 writes to stdout, ignores other port writes, reads 0xff from every port, and stops at the
 * debug-exit port 0xf4. Then it prints its peak RSS (VmHWM, read first) and that beyond the
 * guest RAM mincore says is resident, as `tetra run --stats` does.
 *
 * Usage: minimal-static IMAGE LOAD_ADDR pit|nopit [MIB [VCPUS]]
 *
 * MIB (default 128) sizes the guest RAM, in one memory slot; VCPUS (default 1) vCPUs are
 * created, each given KVM's supported CPUID (fetched once), and vCPU 0 runs: the scaling table's same-shape
 * baseline, what KVM itself charges for a machine of that size.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

static unsigned long MEM_BYTES = 128UL << 20;
#define CPUID_ENTRIES 256

static void die(const char *what)
{
	perror(what);
	exit(1);
}

static long peak_rss_kib(void)
{
	char line[256];
	long kib = -1;
	FILE *f = fopen("/proc/self/status", "r");
	if (!f)
		die("/proc/self/status");
	while (fgets(line, sizeof line, f))
		if (sscanf(line, "VmHWM: %ld", &kib) == 1)
			break;
	fclose(f);
	return kib;
}

static unsigned long resident_bytes(void *mem)
{
	static unsigned char vec[4096];
	unsigned long page = (unsigned long)sysconf(_SC_PAGESIZE), n = 0;
	for (unsigned long off = 0; off < MEM_BYTES; off += sizeof vec * page) {
		unsigned long len = MEM_BYTES - off < sizeof vec * page ? MEM_BYTES - off : sizeof vec * page;
		if (mincore((char *)mem + off, len, vec))
			die("mincore");
		for (unsigned long i = 0; i < len / page; i++)
			n += vec[i] & 1;
	}
	return n * page;
}

int main(int argc, char **argv)
{
	if (argc < 4 || argc > 6)
		return 2;
	unsigned long addr = strtoul(argv[2], NULL, 0);
	if (argc > 4)
		MEM_BYTES = strtoul(argv[4], NULL, 0) << 20;
	int vcpus = argc > 5 ? atoi(argv[5]) : 1;
	if (MEM_BYTES <= addr || vcpus < 1)
		return 2;
	int kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (kvm < 0)
		die("/dev/kvm");
	int vm = ioctl(kvm, KVM_CREATE_VM, 0);
	if (vm < 0)
		die("KVM_CREATE_VM");
	char *mem = mmap(NULL, MEM_BYTES, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (mem == MAP_FAILED)
		die("mmap");
	int img = open(argv[1], O_RDONLY);
	if (img < 0)
		die(argv[1]);
	if (read(img, mem + addr, MEM_BYTES - addr) <= 0)
		die("read");
	close(img);
	struct kvm_userspace_memory_region region = {
		.slot = 0,
		.guest_phys_addr = 0,
		.memory_size = MEM_BYTES,
		.userspace_addr = (uint64_t)(uintptr_t)mem,
	};
	if (ioctl(vm, KVM_SET_USER_MEMORY_REGION, &region))
		die("KVM_SET_USER_MEMORY_REGION");
	if (ioctl(vm, KVM_CREATE_IRQCHIP, 0))
		die("KVM_CREATE_IRQCHIP");
	if (!strcmp(argv[3], "pit")) {
		struct kvm_pit_config pit = { .flags = KVM_PIT_SPEAKER_DUMMY };
		if (ioctl(vm, KVM_CREATE_PIT2, &pit))
			die("KVM_CREATE_PIT2");
	}
	int vcpu = ioctl(vm, KVM_CREATE_VCPU, 0);
	if (vcpu < 0)
		die("KVM_CREATE_VCPU");
	struct kvm_cpuid2 *cpuid =
		calloc(1, sizeof *cpuid + CPUID_ENTRIES * sizeof cpuid->entries[0]);
	cpuid->nent = CPUID_ENTRIES;
	if (ioctl(kvm, KVM_GET_SUPPORTED_CPUID, cpuid))
		die("KVM_GET_SUPPORTED_CPUID");
	if (ioctl(vcpu, KVM_SET_CPUID2, cpuid))
		die("KVM_SET_CPUID2");
	for (int i = 1; i < vcpus; i++) {
		int ap = ioctl(vm, KVM_CREATE_VCPU, i);
		if (ap < 0)
			die("KVM_CREATE_VCPU");
		if (ioctl(ap, KVM_SET_CPUID2, cpuid))
			die("KVM_SET_CPUID2");
	}
	int run_size = ioctl(kvm, KVM_GET_VCPU_MMAP_SIZE, 0);
	struct kvm_run *run = mmap(NULL, run_size, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu, 0);
	if (run == MAP_FAILED)
		die("mmap kvm_run");
	/* Real mode, CS:IP = the load address (as tetra's real_mode_cs). */
	struct kvm_sregs sregs;
	if (ioctl(vcpu, KVM_GET_SREGS, &sregs))
		die("KVM_GET_SREGS");
	uint16_t cs = (addr >> 4) & 0xf000;
	sregs.cs.selector = cs;
	sregs.cs.base = (uint64_t)cs << 4;
	struct kvm_segment *data[] = { &sregs.ds, &sregs.es, &sregs.fs, &sregs.gs, &sregs.ss };
	for (unsigned i = 0; i < sizeof data / sizeof data[0]; i++) {
		data[i]->selector = 0;
		data[i]->base = 0;
	}
	if (ioctl(vcpu, KVM_SET_SREGS, &sregs))
		die("KVM_SET_SREGS");
	struct kvm_regs regs = { .rip = addr - ((uint64_t)cs << 4), .rsp = 0x8000, .rflags = 2 };
	if (ioctl(vcpu, KVM_SET_REGS, &regs))
		die("KVM_SET_REGS");
	for (;;) {
		if (ioctl(vcpu, KVM_RUN, 0)) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			die("KVM_RUN");
		}
		if (run->exit_reason != KVM_EXIT_IO) {
			fprintf(stderr, "minimal-static: unexpected exit %u\n", run->exit_reason);
			return 1;
		}
		unsigned char *d = (unsigned char *)run + run->io.data_offset;
		unsigned len = run->io.size * run->io.count;
		if (run->io.direction == KVM_EXIT_IO_IN) {
			memset(d, 0xff, len);
		} else if (run->io.port == 0x3f8) {
			if (write(1, d, len) < 0)
				die("write");
		} else if (run->io.port == 0xf4) {
			break;
		}
	}
	long peak = peak_rss_kib();
	unsigned long resident = resident_bytes(mem);
	fprintf(stderr, "minimal-static: stats: peak RSS %ld KiB, beyond guest RAM %ld KiB\n", peak,
		peak - (long)(resident / 1024));
	return 0;
}
