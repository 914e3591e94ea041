/*
 * kvm-smoke: proves that an emulated host exposes a working /dev/kvm before tetra's suite runs.
 *
 * Built by scripts/emu-test with the target's cross gcc (-static) against that target's uapi
 * headers (linux-libc-dev-<arch>-cross), so every ioctl number is the one that arch's kernel
 * expects (powerpc's differ from the generic layout). It opens /dev/kvm, checks the API version,
 * prints a few capabilities, creates a VM and a vCPU, maps its kvm_run area, does the arch's vCPU
 * set-up (arm64: KVM_ARM_VCPU_INIT with PSCI 0.2; ppc64: PVR via KVM_SET_SREGS and
 * KVM_CAP_PPC_PAPR, as a pseries VMM must), then runs a four-instruction guest that stores 0x42 to
 * an address outside its RAM (x86: an OUT to port 0x10) and checks that KVM_RUN reports exactly
 * that exit. Exit status 0 only if all of that worked; the last line is "KVM-SMOKE PASS" or
 * "KVM-SMOKE FAIL: <why>".
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdint.h>
#include <stdio.h>
#include <stddef.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

static int fail(const char *what)
{
	printf("KVM-SMOKE FAIL: %s: %s\n", what, strerror(errno));
	return 1;
}

struct cap {
	const char *name;
	long nr;
	int required; /* the lane fails when a required cap reports 0 */
};

static const struct cap caps[] = {
	{"USER_MEMORY", KVM_CAP_USER_MEMORY, 1},
	{"NR_VCPUS", KVM_CAP_NR_VCPUS, 1},
	{"MAX_VCPUS", KVM_CAP_MAX_VCPUS, 0},
	{"IRQFD", KVM_CAP_IRQFD, 0},
	{"IOEVENTFD", KVM_CAP_IOEVENTFD, 0},
	{"DEVICE_CTRL", KVM_CAP_DEVICE_CTRL, 0},
#if defined(__aarch64__)
	{"ONE_REG", KVM_CAP_ONE_REG, 1},
	{"ARM_PSCI_0_2", KVM_CAP_ARM_PSCI_0_2, 1},
	{"ARM_VM_IPA_SIZE", KVM_CAP_ARM_VM_IPA_SIZE, 0},
	{"IRQCHIP", KVM_CAP_IRQCHIP, 0},
	{"SIGNAL_MSI", KVM_CAP_SIGNAL_MSI, 0},
#elif defined(__powerpc64__)
	{"ONE_REG", KVM_CAP_ONE_REG, 1},
	{"PPC_PAPR", KVM_CAP_PPC_PAPR, 1},
	{"PPC_MMU_RADIX", KVM_CAP_PPC_MMU_RADIX, 0},
	{"PPC_MMU_HASH_V3", KVM_CAP_PPC_MMU_HASH_V3, 0},
	{"IRQ_XICS", KVM_CAP_IRQ_XICS, 0},
	{"PPC_IRQ_XIVE", KVM_CAP_PPC_IRQ_XIVE, 0},
	{"PPC_ENABLE_HCALL", KVM_CAP_PPC_ENABLE_HCALL, 0},
	{"SPAPR_TCE", KVM_CAP_SPAPR_TCE, 0},
	{"SW_TLB", KVM_CAP_SW_TLB, 0},
	/* What a hash-MMU (HPT) guest would use: KVM-HV allocates the HPT in the kernel
	 * (ALLOC_HTAB, HTAB_FD), KVM-PR leaves it to userspace (SDR1 through KVM_SET_SREGS). */
	{"PPC_ALLOC_HTAB", KVM_CAP_PPC_ALLOC_HTAB, 0},
	{"PPC_HTAB_FD", KVM_CAP_PPC_HTAB_FD, 0},
	{"PPC_GET_SMMU_INFO", KVM_CAP_PPC_GET_SMMU_INFO, 0},
	{"PPC_RMA", KVM_CAP_PPC_RMA, 0},
	{"PPC_SMT", KVM_CAP_PPC_SMT, 0},
	{"PPC_NESTED_HV", KVM_CAP_PPC_NESTED_HV, 0},
	{"PPC_RTAS", KVM_CAP_PPC_RTAS, 0},
	{"SPAPR_TCE_64", KVM_CAP_SPAPR_TCE_64, 0},
	{"SPAPR_MULTITCE", KVM_CAP_SPAPR_MULTITCE, 0},
#elif defined(__x86_64__)
	{"IRQCHIP", KVM_CAP_IRQCHIP, 1},
	{"EXT_CPUID", KVM_CAP_EXT_CPUID, 1},
	{"NESTED_STATE", KVM_CAP_NESTED_STATE, 0},
	{"SPLIT_IRQCHIP", KVM_CAP_SPLIT_IRQCHIP, 0},
	{"X2APIC_API", KVM_CAP_X2APIC_API, 0},
#endif
};

#define RAM_SIZE (1u << 20) /* 1 MiB of guest RAM, 64 KiB-page aligned */
#define EXPECT_DATA 0x42

#if defined(__aarch64__)
#define RAM_BASE 0x40000000ull /* 1 GiB, where arm64 guests keep RAM */
#define MMIO_ADDR 0x1000ull    /* below RAM: not backed, so the store exits */
static const uint32_t guest_code[] = {
	0xd2820000, /* movz x0, #0x1000 */
	0xd2800841, /* movz x1, #0x42 */
	0xf9000001, /* str  x1, [x0] */
	0x14000000, /* b    . */
};
#elif defined(__powerpc64__)
#define RAM_BASE 0x0ull
#define MMIO_ADDR 0x100000ull /* just past RAM */
static const uint32_t guest_code[] = {
	0x3c600010, /* lis r3, 0x10 */
	0x38800042, /* li  r4, 0x42 */
	0x90830000, /* stw r4, 0(r3) */
	0x48000000, /* b   . */
};
#elif defined(__x86_64__)
#define RAM_BASE 0x0ull
static const uint8_t guest_code[] = {
	0xb0, 0x42, /* mov al, 0x42 */
	0xe6, 0x10, /* out 0x10, al */
	0xf4,       /* hlt */
};
#endif

/* Arch set-up of vCPU 0 so that it starts at RAM_BASE running guest_code. */
static int vcpu_setup(int vm, int vcpu)
{
#if defined(__aarch64__)
	struct kvm_vcpu_init init;
	struct kvm_one_reg reg;
	uint64_t pc = RAM_BASE;
	memset(&init, 0, sizeof(init));
	if (ioctl(vm, KVM_ARM_PREFERRED_TARGET, &init) < 0)
		return fail("KVM_ARM_PREFERRED_TARGET");
	init.features[0] |= 1u << KVM_ARM_VCPU_PSCI_0_2;
	if (ioctl(vcpu, KVM_ARM_VCPU_INIT, &init) < 0)
		return fail("KVM_ARM_VCPU_INIT");
	/* KVM_REG_ARM64 | KVM_REG_SIZE_U64 | KVM_REG_ARM_CORE | offsetof(kvm_regs, regs.pc) / 4 */
	reg.id = KVM_REG_ARM64 | KVM_REG_SIZE_U64 | KVM_REG_ARM_CORE |
		 (offsetof(struct kvm_regs, regs.pc) / sizeof(uint32_t));
	reg.addr = (uint64_t)(uintptr_t)&pc;
	if (ioctl(vcpu, KVM_SET_ONE_REG, &reg) < 0)
		return fail("KVM_SET_ONE_REG(pc)");
	printf("KVM_ARM_VCPU_INIT ok (target %u, PSCI 0.2), pc set through ONE_REG\n", init.target);
#elif defined(__powerpc64__)
	struct kvm_sregs sregs;
	struct kvm_enable_cap cap;
	struct kvm_regs regs;
	unsigned long pvr;
	(void)vm;
	__asm__ volatile("mfpvr %0" : "=r"(pvr));
	if (ioctl(vcpu, KVM_GET_SREGS, &sregs) < 0)
		return fail("KVM_GET_SREGS");
	sregs.pvr = pvr;
	if (ioctl(vcpu, KVM_SET_SREGS, &sregs) < 0)
		return fail("KVM_SET_SREGS (pvr)");
	memset(&cap, 0, sizeof(cap));
	cap.cap = KVM_CAP_PPC_PAPR;
	if (ioctl(vcpu, KVM_ENABLE_CAP, &cap) < 0)
		return fail("KVM_ENABLE_CAP(PPC_PAPR)");
	if (ioctl(vcpu, KVM_GET_REGS, &regs) < 0)
		return fail("KVM_GET_REGS");
	regs.pc = RAM_BASE;
	regs.msr = (1ull << 63) | (1ull << 12) | 1ull; /* SF | ME | LE, real mode */
	if (ioctl(vcpu, KVM_SET_REGS, &regs) < 0)
		return fail("KVM_SET_REGS");
	printf("KVM_SET_SREGS(pvr %#lx) + KVM_ENABLE_CAP(PPC_PAPR) ok\n", pvr);
#elif defined(__x86_64__)
	struct kvm_sregs sregs;
	struct kvm_regs regs;
	(void)vm;
	if (ioctl(vcpu, KVM_GET_SREGS, &sregs) < 0)
		return fail("KVM_GET_SREGS");
	sregs.cs.base = 0;
	sregs.cs.selector = 0;
	if (ioctl(vcpu, KVM_SET_SREGS, &sregs) < 0)
		return fail("KVM_SET_SREGS");
	memset(&regs, 0, sizeof(regs));
	regs.rip = RAM_BASE;
	regs.rflags = 2;
	if (ioctl(vcpu, KVM_SET_REGS, &regs) < 0)
		return fail("KVM_SET_REGS");
#endif
	return 0;
}

/* 0 when the exit is the guest's store of EXPECT_DATA (or its OUT on x86). */
static int check_exit(const struct kvm_run *run)
{
#if defined(__x86_64__)
	if (run->exit_reason == KVM_EXIT_IO && run->io.direction == KVM_EXIT_IO_OUT &&
	    run->io.port == 0x10 && run->io.size == 1 &&
	    ((const uint8_t *)run)[run->io.data_offset] == EXPECT_DATA) {
		printf("KVM_RUN -> KVM_EXIT_IO out port %#x data %#x\n", run->io.port, EXPECT_DATA);
		return 0;
	}
#else
	if (run->exit_reason == KVM_EXIT_MMIO && run->mmio.is_write &&
	    run->mmio.phys_addr == MMIO_ADDR && run->mmio.data[0] == EXPECT_DATA) {
		printf("KVM_RUN -> KVM_EXIT_MMIO write addr %#llx len %u data[0] %#x\n",
		       (unsigned long long)run->mmio.phys_addr, run->mmio.len, run->mmio.data[0]);
		return 0;
	}
#endif
	return 1;
}

#if defined(__powerpc64__)
/* Informational, on a VM of its own (the smoke VM stays as it was): what this KVM says to the
 * calls a hash-MMU guest's set-up makes. Never fails the smoke. */
static void hpt_probe(int kvm)
{
	struct kvm_ppc_smmu_info info;
	uint32_t order = 0;
	int vm = ioctl(kvm, KVM_CREATE_VM, 0), r;
	if (vm < 0) {
		printf("  hpt probe: KVM_CREATE_VM: %s\n", strerror(errno));
		return;
	}
	memset(&info, 0, sizeof(info));
	r = ioctl(vm, KVM_PPC_GET_SMMU_INFO, &info);
	if (r < 0)
		printf("  hpt probe: KVM_PPC_GET_SMMU_INFO -> %s\n", strerror(errno));
	else
		printf("  hpt probe: KVM_PPC_GET_SMMU_INFO ok: flags %#llx slb_size %u, first page size shift %u\n",
		       (unsigned long long)info.flags, info.slb_size, info.sps[0].page_shift);
	r = ioctl(vm, KVM_PPC_ALLOCATE_HTAB, &order);
	if (r < 0)
		printf("  hpt probe: KVM_PPC_ALLOCATE_HTAB(order 0: the default) -> errno %d %s\n", errno, strerror(errno));
	else
		printf("  hpt probe: KVM_PPC_ALLOCATE_HTAB ok: order %u\n", order);
	close(vm);
}
#endif

int main(void)
{
	int kvm, vm, vcpu, api, mmap_size, missing = 0, i;
	unsigned c;
	struct kvm_run *run;
	void *ram;
	struct kvm_userspace_memory_region region;

	setvbuf(stdout, NULL, _IOLBF, 0);
	kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (kvm < 0)
		return fail("open /dev/kvm");
	api = ioctl(kvm, KVM_GET_API_VERSION, 0);
	printf("KVM_GET_API_VERSION = %d (ioctl nr %#lx)\n", api, (unsigned long)KVM_GET_API_VERSION);
	if (api != KVM_API_VERSION) {
		printf("KVM-SMOKE FAIL: API version %d, expected %d\n", api, KVM_API_VERSION);
		return 1;
	}
	for (c = 0; c < sizeof(caps) / sizeof(caps[0]); c++) {
		int v = ioctl(kvm, KVM_CHECK_EXTENSION, caps[c].nr);
		printf("  KVM_CAP_%-16s = %d%s\n", caps[c].name, v,
		       caps[c].required && v <= 0 ? "  (required: MISSING)" : "");
		if (caps[c].required && v <= 0)
			missing++;
	}
	if (missing) {
		printf("KVM-SMOKE FAIL: %d required capabilities missing\n", missing);
		return 1;
	}
#if defined(__powerpc64__)
	hpt_probe(kvm);
#endif
	vm = ioctl(kvm, KVM_CREATE_VM, 0);
	if (vm < 0)
		return fail("KVM_CREATE_VM");
	ram = mmap(NULL, RAM_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (ram == MAP_FAILED)
		return fail("mmap guest RAM");
	memcpy(ram, guest_code, sizeof(guest_code));
	memset(&region, 0, sizeof(region));
	region.guest_phys_addr = RAM_BASE;
	region.memory_size = RAM_SIZE;
	region.userspace_addr = (uint64_t)(uintptr_t)ram;
	if (ioctl(vm, KVM_SET_USER_MEMORY_REGION, &region) < 0)
		return fail("KVM_SET_USER_MEMORY_REGION");
	vcpu = ioctl(vm, KVM_CREATE_VCPU, 0);
	if (vcpu < 0)
		return fail("KVM_CREATE_VCPU");
	mmap_size = ioctl(kvm, KVM_GET_VCPU_MMAP_SIZE, 0);
	if (mmap_size <= 0)
		return fail("KVM_GET_VCPU_MMAP_SIZE");
	run = mmap(NULL, (size_t)mmap_size, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu, 0);
	if (run == MAP_FAILED)
		return fail("mmap kvm_run");
	printf("KVM_CREATE_VM, KVM_SET_USER_MEMORY_REGION, KVM_CREATE_VCPU ok; kvm_run size %d\n",
	       mmap_size);
	if (vcpu_setup(vm, vcpu))
		return 1;
	/* A few tries: a signal or an arch-internal exit may come first. */
	for (i = 0; i < 8; i++) {
		if (ioctl(vcpu, KVM_RUN, 0) < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			return fail("KVM_RUN");
		}
		if (check_exit(run) == 0) {
			printf("KVM-SMOKE PASS\n");
			return 0;
		}
		printf("KVM_RUN -> exit_reason %u (not the expected one)\n", run->exit_reason);
		if (run->exit_reason == KVM_EXIT_FAIL_ENTRY || run->exit_reason == KVM_EXIT_INTERNAL_ERROR ||
		    run->exit_reason == KVM_EXIT_SHUTDOWN)
			break;
	}
	printf("KVM-SMOKE FAIL: the guest's store did not reach userspace\n");
	return 1;
}
